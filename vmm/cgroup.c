/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's cgroups, parent side (cgroup.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/cgroup.h"
#include "common/escape.h"
#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/strv.h"

DEFINE_CLEANUP(DIR *, closedir);

/* Where each kind lives below the cgroup root, and its name in /proc/PID/cgroup. */
static const struct {
        const char *subdir;
        const char *controller; /* "" for cgroup2 */
} cgroup_kinds[_CGROUP_KIND_MAX] = {
        [CGROUP_UNIFIED] = { "unified", "" },
        [CGROUP_V1_MEMORY] = { "memory", "memory" },
        [CGROUP_V1_PIDS] = { "pids", "pids" },
        [CGROUP_V1_FREEZER] = { "freezer", "freezer" },
};

static bool fs_is(const char *path, __fsword_t magic) {
        struct statfs sfs;

        return statfs(path, &sfs) >= 0 && sfs.f_type == magic;
}

static bool file_exists(const char *dir, const char *file) {
        _cleanup_free_ char *p = path_join(dir, file);

        return p && access(p, F_OK) >= 0;
}

static int cgroup_write(const char *dir, const char *file, const char *value) {
        _cleanup_free_ char *p = path_join(dir, file);

        if (!p)
                return -ENOMEM;
        return write_string_file(p, value);
}

static bool word_in_file(const char *dir, const char *file, const char *word) {
        _cleanup_free_ char *p = path_join(dir, file), *line = NULL;
        _cleanup_(strv_freep) char **words = NULL;

        if (!p || read_one_line_file(p, &line) < 0 || strv_split(line, " ", &words) < 0)
                return false;
        STRV_FOREACH (w, words)
                if (streq(*w, word))
                        return true;
        return false;
}

bool cgroup_leaf_name_valid(const char *leaf) {
        if (!leaf || !*leaf || strlen(leaf) > NAME_MAX)
                return false;
        return !strchr(leaf, '/') && !streq(leaf, ".") && !streq(leaf, "..");
}

/* Our subtree in one hierarchy; on cgroup2 with the controllers we set limits with delegated to
 * it. We never enable controllers in the root: that is the host's choice. */
static int subtree_make(const char *hierarchy, const char *parent, bool unified, char **ret) {
        _cleanup_free_ char *dir = path_join(hierarchy, parent);

        if (!dir)
                return -ENOMEM;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        /* mkdir says EEXIST before EROFS: a read-only cgroupfs (ProtectControlGroups=) shows here. */
        if (access(dir, W_OK) < 0)
                return -errno;
        if (unified)
                for (size_t k = 0; k < 2; k++) {
                        const char *c = k == 0 ? "memory" : "pids";
                        char plus[16];

                        if (!word_in_file(hierarchy, "cgroup.controllers", c))
                                continue;
                        (void) snprintf(plus, sizeof(plus), "+%s", c);
                        (void) cgroup_write(dir, "cgroup.subtree_control", plus);
                }
        *ret = TAKE_PTR(dir);
        return 0;
}

int cgroup_layout_init(CgroupLayout *l, const char *root, const char *parent) {
        _cleanup_free_ char *unified = NULL;

        *l = CGROUP_LAYOUT_NULL;
        if (!cgroup_leaf_name_valid(parent))
                return -EINVAL;
        l->parent = strdup(parent);
        if (!l->parent)
                return -ENOMEM;

        /* A pure cgroup2 host: the root itself, and nothing else. */
        if (fs_is(root, CGROUP2_SUPER_MAGIC)) {
                l->unified_pure = true;
                if (subtree_make(root, parent, true, &l->dirs[CGROUP_UNIFIED]) >= 0)
                        l->unified_kill = file_exists(l->dirs[CGROUP_UNIFIED], "cgroup.kill");
                return 0;
        }

        for (CgroupKind k = CGROUP_V1_MEMORY; k < _CGROUP_KIND_MAX; k++) {
                _cleanup_free_ char *h = path_join(root, cgroup_kinds[k].subdir);

                if (!h)
                        return -ENOMEM;
                if (fs_is(h, CGROUP_SUPER_MAGIC))
                        (void) subtree_make(h, parent, false, &l->dirs[k]);
        }

        /* A hybrid host's cgroup2 holds no controller, but its cgroup.kill (Linux 5.14) kills a
         * tree in one write and cgroup.events tells when it is empty: worth one more migration
         * per spawn. Without cgroup.kill it adds nothing the freezer does not do. */
        unified = path_join(root, cgroup_kinds[CGROUP_UNIFIED].subdir);
        if (!unified)
                return -ENOMEM;
        if (fs_is(unified, CGROUP2_SUPER_MAGIC) &&
            subtree_make(unified, parent, true, &l->dirs[CGROUP_UNIFIED]) >= 0) {
                l->unified_kill = file_exists(l->dirs[CGROUP_UNIFIED], "cgroup.kill");
                if (!l->unified_kill) {
                        (void) rmdir(l->dirs[CGROUP_UNIFIED]);
                        l->dirs[CGROUP_UNIFIED] = mfree(l->dirs[CGROUP_UNIFIED]);
                }
        }
        /* With cgroup.kill the freezer is not needed: one migration less per spawn. */
        if (l->unified_kill && l->dirs[CGROUP_V1_FREEZER]) {
                (void) rmdir(l->dirs[CGROUP_V1_FREEZER]);
                l->dirs[CGROUP_V1_FREEZER] = mfree(l->dirs[CGROUP_V1_FREEZER]);
        }
        return 0;
}

void cgroup_layout_done(CgroupLayout *l) {
        l->parent = mfree(l->parent);
        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++)
                l->dirs[k] = mfree(l->dirs[k]);
}

void cgroup_layout_remove(const CgroupLayout *l) {
        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++)
                if (l->dirs[k])
                        (void) rmdir(l->dirs[k]);
}

bool cgroup_layout_empty(const CgroupLayout *l) {
        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++)
                if (l->dirs[k])
                        return false;
        return true;
}

const char *cgroup_layout_name(const CgroupLayout *l) {
        bool v1 = l->dirs[CGROUP_V1_MEMORY] || l->dirs[CGROUP_V1_PIDS] || l->dirs[CGROUP_V1_FREEZER];

        if (l->unified_pure)
                return l->dirs[CGROUP_UNIFIED] ? "cgroup2" : "none";
        if (v1)
                return l->dirs[CGROUP_UNIFIED] ? "hybrid" : "v1";
        return l->dirs[CGROUP_UNIFIED] ? "cgroup2" : "none";
}

const char *cgroup_layout_kill_method(const CgroupLayout *l) {
        if (l->unified_kill)
                return "cgroup.kill";
        if (l->dirs[CGROUP_V1_FREEZER])
                return "freezer";
        return cgroup_layout_empty(l) ? "none" : "signals";
}

static char *leaf_dir(const CgroupLayout *l, CgroupKind k, const char *leaf) {
        return l->dirs[k] ? path_join(l->dirs[k], leaf) : NULL;
}

static int limit_write(const char *dir, const char *file, uint64_t value) {
        char buf[32];
        int r;

        (void) snprintf(buf, sizeof(buf), "%" PRIu64, value);
        r = cgroup_write(dir, file, buf);
        /* A limit the host does not offer (no controller delegated) is left out. */
        return r == -ENOENT || r == -EACCES || r == -EPERM || r == -EOPNOTSUPP ? 0 : r;
}

static int leaf_limits(CgroupKind k, const char *dir, uint64_t memory_max, uint64_t tasks_max) {
        int r = 0;

        switch (k) {
        case CGROUP_UNIFIED:
                if (memory_max > 0)
                        r = limit_write(dir, "memory.max", memory_max);
                if (r >= 0 && tasks_max > 0)
                        r = limit_write(dir, "pids.max", tasks_max);
                return r;
        case CGROUP_V1_MEMORY:
                return memory_max > 0 ? limit_write(dir, "memory.limit_in_bytes", memory_max) : 0;
        case CGROUP_V1_PIDS:
                return tasks_max > 0 ? limit_write(dir, "pids.max", tasks_max) : 0;
        case CGROUP_V1_FREEZER:
                return 0;
        case _CGROUP_KIND_MAX:
        case _CGROUP_KIND_INVALID:
                break;
        }
        return -EINVAL;
}

int cgroup_leaf_create(
                const CgroupLayout *l,
                const char *leaf,
                uint64_t memory_max,
                uint64_t tasks_max,
                char ***ret_procs) {
        _cleanup_(strv_freep) char **procs = NULL;
        int r;

        if (!cgroup_leaf_name_valid(leaf))
                return -EINVAL;
        /* Never reused while it holds a task: the caller kills leftovers first. */
        r = cgroup_leaf_remove(l, leaf);
        if (r < 0)
                return r;
        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++) {
                _cleanup_free_ char *dir = leaf_dir(l, k, leaf);

                if (!l->dirs[k])
                        continue;
                if (!dir)
                        return -ENOMEM;
                if (mkdir(dir, 0755) < 0)
                        return -errno;
                r = leaf_limits(k, dir, memory_max, tasks_max);
                if (r < 0)
                        return r;
                r = strv_push(&procs, path_join(dir, "cgroup.procs"));
                if (r < 0)
                        return r;
        }
        if (!procs) {
                procs = calloc(1, sizeof(char *));
                if (!procs)
                        return -ENOMEM;
        }
        *ret_procs = TAKE_PTR(procs);
        return 0;
}

static int pid_cmp(const void *a, const void *b) {
        pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;

        return x < y ? -1 : x > y;
}

static int procs_read(const char *dir, pid_t **pids, size_t *n) {
        _cleanup_free_ char *p = path_join(dir, "cgroup.procs"), *text = NULL;
        char *save = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = read_full_file(p, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (char *w = strtok_r(text, "\n", &save); w; w = strtok_r(NULL, "\n", &save)) {
                uint32_t v;
                pid_t *np;

                if (parse_uint32(w, &v) < 0 || v == 0)
                        continue;
                np = realloc(*pids, (*n + 1) * sizeof(pid_t));
                if (!np)
                        return -ENOMEM;
                *pids = np;
                (*pids)[(*n)++] = (pid_t) v;
        }
        return 0;
}

int cgroup_leaf_pids(const CgroupLayout *l, const char *leaf, pid_t **ret, size_t *ret_n) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0, u = 0;
        int r;

        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++) {
                _cleanup_free_ char *dir = leaf_dir(l, k, leaf);

                if (!l->dirs[k])
                        continue;
                if (!dir)
                        return -ENOMEM;
                r = procs_read(dir, &pids, &n);
                if (r < 0)
                        return r;
        }
        if (n > 0) {
                qsort(pids, n, sizeof(pid_t), pid_cmp);
                for (size_t k = 0; k < n; k++)
                        if (u == 0 || pids[u - 1] != pids[k])
                                pids[u++] = pids[k];
        }
        *ret = TAKE_PTR(pids);
        *ret_n = u;
        return 0;
}

/* Is pid (pinned by pidfd) in our leaf of hierarchy k? /proc/PID/cgroup names it
 * "ID:CONTROLLERS:/PATH"; our leaf's path ends in "/<parent>/<leaf>". */
static bool pid_in_leaf(const CgroupLayout *l, CgroupKind k, const char *leaf, pid_t pid) {
        _cleanup_free_ char *p = NULL, *text = NULL, *want = NULL;
        char *save = NULL;

        if (asprintf(&p, "/proc/%i/cgroup", (int) pid) < 0 || asprintf(&want, "/%s/%s", l->parent, leaf) < 0)
                return false;
        if (read_full_file(p, &text, NULL) < 0)
                return false;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *c = strchr(line, ':'), *path;
                _cleanup_(strv_freep) char **ctl = NULL;
                bool match = false;

                if (!c || !(path = strchr(c + 1, ':')))
                        continue;
                *path++ = 0;
                if (k == CGROUP_UNIFIED)
                        match = streq(c + 1, "");
                else if (strv_split(c + 1, ",", &ctl) >= 0)
                        STRV_FOREACH (w, ctl)
                                match = match || streq(*w, cgroup_kinds[k].controller);
                if (match)
                        return strlen(path) >= strlen(want) &&
                                        streq(path + strlen(path) - strlen(want), want);
        }
        return false;
}

/* SIGKILL every process of the leaf that a pidfd shows is still in it: a pid read from
 * cgroup.procs may have exited and been reused by then, and we never kill what is not ours. */
static int kill_each(const CgroupLayout *l, CgroupKind k, const char *leaf, bool frozen) {
        _cleanup_free_ char *dir = leaf_dir(l, k, leaf);
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r, killed = 0;

        if (!dir)
                return -ENOMEM;
        r = procs_read(dir, &pids, &n);
        if (r < 0)
                return r;
        for (size_t j = 0; j < n; j++) {
                _cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, pids[j], 0);

                if (pidfd < 0)
                        continue; /* gone already */
                /* Frozen tasks cannot exit, so their pids cannot be reused meanwhile. */
                if (!frozen && !pid_in_leaf(l, k, leaf, pids[j]))
                        continue;
                if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) >= 0)
                        killed++;
        }
        return killed;
}

/* Freeze (the tasks can neither fork nor exit), SIGKILL all, thaw: they die at once. Freezing
 * takes a moment; a task still FREEZING is signalled all the same, and the next round sees
 * whatever it forked. */
static int kill_frozen(const CgroupLayout *l, const char *leaf) {
        _cleanup_free_ char *dir = leaf_dir(l, CGROUP_V1_FREEZER, leaf);
        bool frozen = false;
        int r;

        if (!dir)
                return -ENOMEM;
        r = cgroup_write(dir, "freezer.state", "FROZEN");
        if (r >= 0) {
                _cleanup_free_ char *p = path_join(dir, "freezer.state"), *s = NULL;

                frozen = p && read_one_line_file(p, &s) >= 0 && streq(s, "FROZEN");
        }
        r = kill_each(l, CGROUP_V1_FREEZER, leaf, frozen);
        (void) cgroup_write(dir, "freezer.state", "THAWED");
        return r;
}

int cgroup_leaf_kill(const CgroupLayout *l, const char *leaf) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r;

        if (!cgroup_leaf_name_valid(leaf))
                return -EINVAL;
        r = cgroup_leaf_pids(l, leaf, &pids, &n);
        if (r < 0 || n == 0)
                return r;
        if (l->unified_kill) {
                _cleanup_free_ char *dir = leaf_dir(l, CGROUP_UNIFIED, leaf);

                if (!dir)
                        return -ENOMEM;
                /* Every task, forks in flight included. */
                r = cgroup_write(dir, "cgroup.kill", "1");
                if (r >= 0)
                        return 1;
        }
        if (l->dirs[CGROUP_V1_FREEZER])
                return kill_frozen(l, leaf);
        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++)
                if (l->dirs[k])
                        return kill_each(l, k, leaf, false);
        return 0;
}

int cgroup_leaf_remove(const CgroupLayout *l, const char *leaf) {
        int ret = 0;

        if (!cgroup_leaf_name_valid(leaf))
                return -EINVAL;
        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++) {
                _cleanup_free_ char *dir = leaf_dir(l, k, leaf);

                if (!l->dirs[k])
                        continue;
                if (!dir)
                        return -ENOMEM;
                /* Go on with the other hierarchies, and report the first failure. */
                if (rmdir(dir) < 0 && errno != ENOENT && ret == 0)
                        ret = -errno;
        }
        return ret;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int cgroup_leaves(const CgroupLayout *l, char ***ret) {
        _cleanup_(strv_freep) char **names = NULL;
        size_t n, u = 0;
        int r;

        for (CgroupKind k = 0; k < _CGROUP_KIND_MAX; k++) {
                _cleanup_(closedirp) DIR *d = NULL;
                struct dirent *de;

                if (!l->dirs[k] || !(d = opendir(l->dirs[k])))
                        continue;
                while ((de = readdir(d)))
                        if (de->d_type == DT_DIR && cgroup_leaf_name_valid(de->d_name) &&
                            de->d_name[0] != '.') {
                                r = strv_push(&names, strdup(de->d_name));
                                if (r < 0)
                                        return r;
                        }
        }
        n = strv_length(names);
        if (n > 0) {
                qsort(names, n, sizeof(char *), name_cmp);
                for (size_t k = 0; k < n; k++)
                        if (u > 0 && streq(names[u - 1], names[k]))
                                free(names[k]);
                        else
                                names[u++] = names[k];
                names[u] = NULL;
        }
        *ret = TAKE_PTR(names);
        return 0;
}

char *cgroup_leaf_events_path(const CgroupLayout *l, const char *leaf) {
        _cleanup_free_ char *dir = leaf_dir(l, CGROUP_UNIFIED, leaf);

        return dir ? path_join(dir, "cgroup.events") : NULL;
}

char *cgroup_pids_describe(const pid_t *pids, size_t n, size_t max) {
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                return NULL;
        for (size_t k = 0; k < n && k < max; k++) {
                _cleanup_free_ char *p = NULL, *comm = NULL;

                if (asprintf(&p, "/proc/%i/comm", (int) pids[k]) >= 0 && read_one_line_file(p, &comm) >= 0)
                        comm = escape_nonprintable(comm);
                fprintf(f, "%s%i (%s)", k > 0 ? ", " : "", (int) pids[k], comm ?: "?");
        }
        if (n > max)
                fprintf(f, ", and %zu more", n - max);
        if (fclose(f) != 0)
                return mfree(s);
        return s;
}
