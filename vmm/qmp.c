/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A non-blocking QMP client, driven by the caller's event loop: qmp_fd() for polling,
 * qmp_wants_write() for POLLOUT, qmp_process() when the fd is ready.
 *
 * The protocol: QEMU greets with {"QMP": {...}}; we answer {"execute":"qmp_capabilities"}
 * and, once that returns, the connection is READY and queued commands go out. Without "id"s
 * and out-of-band execution, QEMU answers commands in the order it received them, so each
 * {"return": ...} or {"error": ...} belongs to the oldest command still unanswered.
 * Asynchronous {"event": ...} messages may come in between. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/json-util.h"
#include "vmm/qemu.h"
#include "common/macro.h"
#include "common/socket-util.h"
#include "common/string-table.h"

#define QMP_MESSAGE_MAX (1024 * 1024) /* one incoming message, whitespace before it included */
#define QMP_QUEUE_MAX 64              /* commands queued or awaiting their answer */
#define QMP_COMMAND_MAX 128           /* length of a command name */
#define QMP_READ_SIZE 4096

typedef enum QmpState {
        QMP_STATE_CONNECTING,   /* connect() returned EINPROGRESS */
        QMP_STATE_GREETING,     /* waiting for {"QMP": ...} */
        QMP_STATE_CAPABILITIES, /* qmp_capabilities sent, waiting for its return */
        QMP_STATE_READY,
} QmpState;

struct Qmp {
        int fd;
        QmpState state;
        struct json_tokener *tok;
        size_t msg_size; /* bytes fed to tok for the message being parsed */

        char *out; /* serialized commands not written yet */
        size_t out_size, out_written, out_alloc;

        char *queue[QMP_QUEUE_MAX]; /* command names in send order, oldest first */
        size_t n_queue;
        size_t n_sent; /* queue[0..n_sent) are serialized: written or in out */
};

Qmp *qmp_free(Qmp *q) {
        if (!q)
                return NULL;

        safe_close(q->fd);
        if (q->tok)
                json_tokener_free(q->tok);
        free(q->out);
        for (size_t i = 0; i < q->n_queue; i++)
                free(q->queue[i]);
        return mfree(q);
}

DEFINE_CLEANUP(Qmp *, qmp_free);

int qmp_connect(const char *path, uid_t owner, Qmp **ret) {
        _cleanup_(qmp_freep) Qmp *q = NULL;
        int r;

        if (!path || !ret)
                return -EINVAL;

        q = calloc(1, sizeof(Qmp));
        if (!q)
                return -ENOMEM;
        q->fd = -EBADF;
        q->state = QMP_STATE_GREETING;

        q->tok = json_tokener_new();
        if (!q->tok)
                return -ENOMEM;

        /* The socket sits in its owner's directory: never follow what they put there. */
        r = unix_socket_connect_nofollow(path, SOCK_STREAM, owner, &q->fd);
        if (r < 0)
                return r; /* ENOENT, ECONNREFUSED, EAGAIN (backlog full): retry */

        *ret = TAKE_PTR(q);
        return 0;
}

int qmp_fd(Qmp *q) {
        return q ? q->fd : -EBADF;
}

bool qmp_wants_write(Qmp *q) {
        return q && (q->state == QMP_STATE_CONNECTING || q->out_written < q->out_size);
}

static int qmp_out_append(Qmp *q, const char *command) {
        size_t n;
        int k;

        /* The name was checked by qmp_command_valid(): nothing in it needs JSON escaping. */
        n = strlen("{\"execute\":\"\"}\r\n") + strlen(command) + 1;
        if (q->out_size + n > q->out_alloc) {
                size_t a = MAX(q->out_alloc * 2, q->out_size + n);
                char *p = realloc(q->out, a);

                if (!p)
                        return -ENOMEM;
                q->out = p;
                q->out_alloc = a;
        }

        k = snprintf(q->out + q->out_size, n, "{\"execute\":\"%s\"}\r\n", command);
        if (k < 0 || (size_t) k >= n)
                return -EINVAL;
        q->out_size += k;
        return 0;
}

/* Serializes what was queued while the connection was not READY. */
static int qmp_flush_queue(Qmp *q) {
        int r;

        if (q->state != QMP_STATE_READY)
                return 0;

        for (; q->n_sent < q->n_queue; q->n_sent++) {
                r = qmp_out_append(q, q->queue[q->n_sent]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool qmp_command_valid(const char *command) {
        size_t n;

        if (!command)
                return false;
        n = strlen(command);
        if (n == 0 || n > QMP_COMMAND_MAX)
                return false;
        return strspn(command, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

int qmp_send(Qmp *q, const char *command) {
        char *c;
        int r;

        if (!q || !qmp_command_valid(command))
                return -EINVAL;
        if (q->n_queue >= QMP_QUEUE_MAX)
                return -ENOBUFS;

        c = strdup(command);
        if (!c)
                return -ENOMEM;
        q->queue[q->n_queue++] = c;

        r = qmp_flush_queue(q);
        if (r < 0) {
                /* Not serialized: take it back, as if never sent. */
                if (q->n_sent < q->n_queue)
                        free(q->queue[--q->n_queue]);
                return r;
        }
        return 0;
}

/* The oldest command without an answer; the caller frees it. */
static char *qmp_pop(Qmp *q) {
        char *c;

        if (q->n_sent == 0)
                return NULL;

        c = q->queue[0];
        memmove(q->queue, q->queue + 1, (q->n_queue - 1) * sizeof(char *));
        q->n_queue--;
        q->n_sent--;
        return c;
}

static const char *json_get_string(struct json_object *o, const char *key) {
        struct json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

typedef void (*QmpCallback)(QmpEvent ev, const char *detail, void *userdata);

static void qmp_emit(QmpCallback cb, QmpEvent ev, const char *detail, void *userdata) {
        if (cb)
                cb(ev, detail, userdata);
}

/* The QMP events we track, by their names on the wire; the others are ours alone. */
static const char *const qmp_event_table[_QMP_EVENT_MAX] = {
        [QMP_EVENT_SHUTDOWN] = "SHUTDOWN",
        [QMP_EVENT_RESET] = "RESET",
        [QMP_EVENT_GUEST_PANICKED] = "GUEST_PANICKED",
        [QMP_EVENT_STOP] = "STOP",
        [QMP_EVENT_RESUME] = "RESUME",
};

DEFINE_PRIVATE_STRING_TABLE_LOOKUP_FROM_STRING(qmp_event, QmpEvent);

static int qmp_handle_event(struct json_object *m, QmpCallback cb, void *userdata) {
        struct json_object *data = NULL;
        const char *name;
        QmpEvent ev;

        name = json_get_string(m, "event");
        if (!name)
                return -EPROTO;
        (void) json_object_object_get_ex(m, "data", &data);

        ev = qmp_event_from_string(name);
        if (ev < 0)
                return 0; /* an event we do not track */
        /* SHUTDOWN and RESET carry a "reason" ("guest-shutdown", "host-qmp-quit", ...). */
        qmp_emit(cb, ev, json_get_string(data, "reason"), userdata);
        return 0;
}

static int qmp_handle(Qmp *q, struct json_object *m, QmpCallback cb, void *userdata) {
        struct json_object *err;
        int r;

        if (!json_object_is_type(m, json_type_object))
                return -EPROTO;

        if (q->state == QMP_STATE_GREETING) {
                if (!json_object_object_get_ex(m, "QMP", NULL))
                        return -EPROTO;

                r = qmp_out_append(q, "qmp_capabilities");
                if (r < 0)
                        return r;
                q->state = QMP_STATE_CAPABILITIES;
                return 0;
        }

        if (json_object_object_get_ex(m, "event", NULL))
                return qmp_handle_event(m, cb, userdata);

        if (json_object_object_get_ex(m, "return", NULL)) {
                _cleanup_free_ char *c = NULL;

                if (q->state == QMP_STATE_CAPABILITIES) {
                        q->state = QMP_STATE_READY;
                        r = qmp_flush_queue(q);
                        if (r < 0)
                                return r;
                        qmp_emit(cb, QMP_EVENT_READY, NULL, userdata);
                        return 0;
                }

                c = qmp_pop(q);
                if (!c)
                        return -EPROTO; /* an answer to nothing we asked */
                qmp_emit(cb, QMP_EVENT_REPLY, c, userdata);
                return 0;
        }

        if (json_object_object_get_ex(m, "error", &err)) {
                _cleanup_free_ char *c = NULL;
                const char *desc;

                if (q->state == QMP_STATE_CAPABILITIES)
                        return -EPROTO; /* qmp_capabilities refused */

                c = qmp_pop(q);
                if (!c)
                        return -EPROTO;
                desc = json_get_string(err, "desc");
                qmp_emit(cb, QMP_EVENT_ERROR, desc ?: c, userdata);
                return 0;
        }

        return 0; /* something newer QEMUs may send; not ours to judge */
}

/* Feeds bytes to the tokener; handles each complete message. */
static int qmp_feed(Qmp *q, const char *buf, size_t n, QmpCallback cb, void *userdata) {
        int r;

        while (n > 0) {
                _cleanup_(json_object_putp) struct json_object *m = NULL;
                enum json_tokener_error e;
                size_t used;

                m = json_tokener_parse_ex(q->tok, buf, (int) n);
                e = json_tokener_get_error(q->tok);
                used = json_tokener_get_parse_end(q->tok);
                if (used > n)
                        return -EPROTO;

                q->msg_size += used;
                if (q->msg_size > QMP_MESSAGE_MAX)
                        return -EPROTO;

                if (e == json_tokener_continue) {
                        if (used != n)
                                return -EPROTO;
                        return 0;
                }
                if (e != json_tokener_success || !m || used == 0)
                        return -EPROTO; /* a syntax error, or a top-level "null" */

                json_tokener_reset(q->tok);
                q->msg_size = 0;
                buf += used;
                n -= used;

                r = qmp_handle(q, m, cb, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int qmp_read(Qmp *q, QmpCallback cb, void *userdata) {
        char buf[QMP_READ_SIZE];
        int r;

        /* Bounded per call: a peer that never stops talking must not starve the event loop;
         * epoll reports the socket again. */
        for (unsigned reads = 0; reads < 16; reads++) {
                ssize_t n = recv(q->fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        if (errno == ECONNRESET || errno == EPIPE)
                                return -ECONNRESET;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;

                r = qmp_feed(q, buf, (size_t) n, cb, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int qmp_write(Qmp *q) {
        while (q->out_written < q->out_size) {
                size_t left = q->out_size - q->out_written;
                ssize_t n = send(q->fd, q->out + q->out_written, left, MSG_DONTWAIT | MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        if (errno == ECONNRESET || errno == EPIPE)
                                return -ECONNRESET;
                        return -errno;
                }
                q->out_written += (size_t) n;
        }

        q->out_size = q->out_written = 0;
        return 0;
}

int qmp_process(Qmp *q, QmpCallback cb, void *userdata) {
        int r;

        if (!q)
                return -EINVAL;

        if (q->state == QMP_STATE_CONNECTING) {
                int error = 0;
                socklen_t len = sizeof(error);

                if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                        return -errno;
                if (error != 0)
                        return -error;
                q->state = QMP_STATE_GREETING;
        }

        r = qmp_read(q, cb, userdata);
        if (r < 0)
                return r;

        return qmp_write(q);
}
