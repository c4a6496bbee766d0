/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test helper standing in for systemd's notification socket: binds a datagram socket at argv[1]
 * and prints every message it receives, one per line (newlines inside a message become ';'),
 * until SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[4096];
        int fd;

        if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "Usage: notify-listen PATH\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("notify-listen");
                return 1;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
                if (n < 0)
                        return 1;
                buf[n] = 0;
                for (char *p = buf; *p; p++)
                        if (*p == '\n')
                                *p = ';';
                printf("%s\n", buf);
        }
}
