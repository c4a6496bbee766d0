/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tap-open NAME [--hold]: attaches to the tap NAME as a VMM would (TUNSETIFF with IFF_TAP |
 * IFF_NO_PI | IFF_VNET_HDR). Prints "ok", or the error, and exits 0 or 1. With --hold it keeps the
 * tap open - a foreign process squatting on a slot - printing "held" until SIGTERM. Test helper. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
        int fd;

        if (argc < 2 || strlen(argv[1]) >= IFNAMSIZ) {
                fprintf(stderr, "Usage: %s NAME [--hold]\n", argv[0]);
                return 2;
        }
        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                printf("/dev/net/tun: %s\n", strerror(errno));
                return 1;
        }
        memcpy(ifr.ifr_name, argv[1], strlen(argv[1]));
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                printf("%s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        if (argc > 2 && strcmp(argv[2], "--hold") == 0) {
                printf("held\n");
                fflush(stdout);
                for (;;)
                        pause();
        }
        printf("ok\n");
        return 0;
}
