/* SPDX-License-Identifier: MIT */
/*
 * cgroup-helper: make, use and remove autoprocs-test-* v1 cgroups with libcgroup's API, for
 * tests/test-cgroup-real.py and tests/bench/compare-detect.  Only names starting with
 * "autoprocs-test-" are accepted, so it can never touch anything else.
 *
 *   cgroup-helper check
 *           exit 0 when root and the v1 cpu hierarchy is writable, else 77 with one line saying why
 *   cgroup-helper cleanup [PREFIX]
 *           delete every top-level PREFIX* cgroup (recursively) in the cpu, cpuacct, cpuset
 *           hierarchies; PREFIX must start with autoprocs-test- (the default)
 *   cgroup-helper create NAME [--quota US] [--period US] [--cpuset LIST]
 *           NAME may be nested ("autoprocs-test-x/child"); the parent must exist
 *   cgroup-helper run NAME [--move-to NAME2] [--unshare] -- CMD [ARGS...]
 *           fork; the child is attached to NAME (and, with --unshare, enters a new cgroup namespace
 *           there; with --move-to, is then attached to NAME2), then execs CMD; exits with CMD's
 *           status
 *   cgroup-helper delete NAME
 *
 * Every failure is one line on stderr naming the cgroup and libcgroup's reason; exit status 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libcgroup.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PREFIX "autoprocs-test-"
#define EXIT_SKIP 77

static const char *cg_err(int r)
{
        if (r == ECGOTHER)
                return strerror(cgroup_get_last_errno());
        return cgroup_strerror(r);
}

static bool name_ok(const char *name)
{
        return strncmp(name, PREFIX, strlen(PREFIX)) == 0 && !strstr(name, "..");
}

static bool is_dir(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The cpuset.mems of the cpuset root (a v1 cpuset cgroup accepts tasks only once its mems are
 * set).  Read as a file below libcgroup's mount point: cgroup_get_cgroup("/") fails on hybrid hosts. */
static int root_mems(char **ret)
{
        char *mnt = NULL, path[4096], buf[256];
        FILE *f;
        size_t n;

        if (cgroup_get_subsys_mount_point("cpuset", &mnt) != 0 || !mnt)
                return ECGROUPNOTMOUNTED;
        snprintf(path, sizeof(path), "%s/cpuset.mems", mnt);
        free(mnt);
        f = fopen(path, "re");
        if (!f)
                return ECGROUPVALUENOTEXIST;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        if (!buf[0])
                return ECGROUPVALUENOTEXIST;
        *ret = strdup(buf);
        return *ret ? 0 : ECGFAIL;
}

/* A struct cgroup for NAME with the controllers it exists in (cpu always, cpuset if present). */
static struct cgroup *cg_for(const char *name, bool with_cpuset)
{
        struct cgroup *cg = cgroup_new_cgroup(name);

        if (!cg)
                return NULL;
        if (!cgroup_add_controller(cg, "cpu")) {
                cgroup_free(&cg);
                return NULL;
        }
        if (with_cpuset && !cgroup_add_controller(cg, "cpuset")) {
                cgroup_free(&cg);
                return NULL;
        }
        return cg;
}

static bool has_cpuset(const char *name)
{
        char *mnt = NULL, path[4096];
        bool r;

        if (cgroup_get_subsys_mount_point("cpuset", &mnt) != 0 || !mnt)
                return false;
        snprintf(path, sizeof(path), "%s/%s", mnt, name);
        free(mnt);
        r = is_dir(path);
        return r;
}

static int do_check(void)
{
        char *mnt = NULL, path[4096];

        if (geteuid() != 0) {
                printf("real cgroups: not root, skipping\n");
                return EXIT_SKIP;
        }
        if (cgroup_get_subsys_mount_point("cpu", &mnt) != 0 || !mnt) {
                printf("real cgroups: no v1 cpu hierarchy mounted (libcgroup finds none), skipping\n");
                return EXIT_SKIP;
        }
        snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", mnt);
        if (access(mnt, W_OK) != 0 || access(path, F_OK) != 0) {
                printf("real cgroups: %s is not a writable v1 cpu hierarchy, skipping\n", mnt);
                free(mnt);
                return EXIT_SKIP;
        }
        printf("cpu hierarchy: %s\n", mnt);
        free(mnt);
        return 0;
}

static int do_create(const char *name, int64_t quota, uint64_t period, const char *cpuset)
{
        struct cgroup *cg = cgroup_new_cgroup(name);
        struct cgroup_controller *c;
        char *mems = NULL;
        int r;

        if (!cg || !(c = cgroup_add_controller(cg, "cpu"))) {
                fprintf(stderr, "cgroup-helper: %s: cannot build the cgroup\n", name);
                return 1;
        }
        /* period first: the kernel checks a new quota against the current period */
        r = period ? cgroup_add_value_uint64(c, "cpu.cfs_period_us", period) : 0;
        if (r == 0 && quota != 0)
                r = cgroup_add_value_int64(c, "cpu.cfs_quota_us", quota);
        if (r == 0 && cpuset) {
                c = cgroup_add_controller(cg, "cpuset");
                r = c ? cgroup_add_value_string(c, "cpuset.cpus", cpuset) : ECGFAIL;
                if (r == 0)
                        r = root_mems(&mems);
                if (r == 0)
                        r = cgroup_add_value_string(c, "cpuset.mems", mems);
        }
        if (r == 0)
                r = cgroup_create_cgroup(cg, 0);
        free(mems);
        cgroup_free(&cg);
        if (r != 0) {
                fprintf(stderr, "cgroup-helper: create %s: %s\n", name, cg_err(r));
                return 1;
        }
        return 0;
}

static int do_delete(const char *name)
{
        struct cgroup *cg = cg_for(name, has_cpuset(name));
        int r;

        if (!cg)
                return 1;
        r = cgroup_delete_cgroup_ext(cg, CGFLAG_DELETE_RECURSIVE | CGFLAG_DELETE_IGNORE_MIGRATION);
        cgroup_free(&cg);
        if (r != 0) {
                fprintf(stderr, "cgroup-helper: delete %s: %s\n", name, cg_err(r));
                return 1;
        }
        return 0;
}

/* Delete every top-level @prefix* directory of the hierarchy of @controller. */
static int cleanup_controller(const char *controller, const char *prefix)
{
        struct cgroup_file_info info;
        void *handle = NULL;
        char *mnt = NULL;
        int lvl = 0, r, ret = 0;
        char names[64][256];
        size_t n = 0;

        if (cgroup_get_subsys_mount_point(controller, &mnt) != 0 || !mnt)
                return 0;
        free(mnt);
        r = cgroup_walk_tree_begin(controller, "/", 1, &handle, &info, &lvl);
        while (r == 0) {
                if (info.type == CGROUP_FILE_TYPE_DIR && info.depth == 1 &&
                    strncmp(info.path, prefix, strlen(prefix)) == 0 && n < 64)
                        snprintf(names[n++], sizeof(names[0]), "%s", info.path);
                r = cgroup_walk_tree_next(1, &handle, &info, lvl);
        }
        if (handle)
                cgroup_walk_tree_end(&handle);
        for (size_t i = 0; i < n; i++) {
                struct cgroup *cg = cgroup_new_cgroup(names[i]);

                if (!cg || !cgroup_add_controller(cg, controller)) {
                        cgroup_free(&cg);
                        ret = 1;
                        continue;
                }
                r = cgroup_delete_cgroup_ext(cg, CGFLAG_DELETE_RECURSIVE |
                                                         CGFLAG_DELETE_IGNORE_MIGRATION);
                if (r != 0) {
                        fprintf(stderr, "cgroup-helper: cleanup %s:%s: %s\n", controller, names[i],
                                cg_err(r));
                        ret = 1;
                } else {
                        printf("removed leftover %s:/%s\n", controller, names[i]);
                }
                cgroup_free(&cg);
        }
        return ret;
}

static int attach(const char *name)
{
        struct cgroup *cg = cg_for(name, has_cpuset(name));
        int r;

        if (!cg)
                return ECGFAIL;
        r = cgroup_attach_task_pid(cg, getpid());
        cgroup_free(&cg);
        if (r != 0)
                fprintf(stderr, "cgroup-helper: attach to %s: %s\n", name, cg_err(r));
        return r;
}

static int do_run(const char *name, const char *move_to, bool unshare_ns, char **argv)
{
        int status;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        if (pid < 0) {
                fprintf(stderr, "cgroup-helper: fork: %s\n", strerror(errno));
                return 1;
        }
        if (pid == 0) {
                if (attach(name) != 0)
                        _exit(126);
                if (unshare_ns && unshare(CLONE_NEWCGROUP) < 0) {
                        fprintf(stderr, "cgroup-helper: unshare(CLONE_NEWCGROUP): %s\n",
                                strerror(errno));
                        _exit(126);
                }
                if (move_to && attach(move_to) != 0)
                        _exit(126);
                execvp(argv[0], argv);
                fprintf(stderr, "cgroup-helper: exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        fprintf(stderr, "cgroup-helper: waitpid: %s\n", strerror(errno));
                        return 1;
                }
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        fprintf(stderr, "cgroup-helper: %s killed by signal %d\n", argv[0], WTERMSIG(status));
        return 1;
}

static int usage(void)
{
        fprintf(stderr, "usage: cgroup-helper check | cleanup [PREFIX] | create NAME [--quota US] [--period US] "
                        "[--cpuset LIST] | run NAME [--move-to NAME] [--unshare] -- CMD... | delete NAME\n");
        return 2;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "quota", required_argument, NULL, 'q' },
                { "period", required_argument, NULL, 'p' },
                { "cpuset", required_argument, NULL, 'c' },
                { "move-to", required_argument, NULL, 'm' },
                { "unshare", no_argument, NULL, 'u' },
                {},
        };
        const char *cmd, *name = NULL, *cpuset = NULL, *move_to = NULL;
        int64_t quota = 0;
        uint64_t period = 0;
        bool unshare_ns = false;
        char *end;
        int r, c;

        if (argc < 2)
                return usage();
        cmd = argv[1];
        r = cgroup_init();
        if (r != 0) {
                if (strcmp(cmd, "check") == 0) {
                        printf("real cgroups: libcgroup cannot initialise (%s), skipping\n", cg_err(r));
                        return EXIT_SKIP;
                }
                fprintf(stderr, "cgroup-helper: cgroup_init: %s\n", cg_err(r));
                return 1;
        }
        if (strcmp(cmd, "check") == 0)
                return do_check();
        if (strcmp(cmd, "cleanup") == 0) {
                const char *prefix = argc > 2 ? argv[2] : PREFIX;

                if (!name_ok(prefix)) {
                        fprintf(stderr, "cgroup-helper: '%s': only %s* names are allowed\n", prefix,
                                PREFIX);
                        return 2;
                }
                r = cleanup_controller("cpu", prefix);
                r |= cleanup_controller("cpuacct", prefix);
                r |= cleanup_controller("cpuset", prefix);
                return r;
        }
        if (argc < 3)
                return usage();
        name = argv[2];
        if (!name_ok(name)) {
                fprintf(stderr, "cgroup-helper: '%s': only %s* names are allowed\n", name, PREFIX);
                return 2;
        }
        optind = 3;
        while ((c = getopt_long(argc, argv, "+", opts, NULL)) >= 0) {
                errno = 0;
                switch (c) {
                case 'q':
                        quota = strtoll(optarg, &end, 10);
                        if (errno || *end || quota == 0) {
                                fprintf(stderr, "cgroup-helper: bad --quota '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'p':
                        period = strtoull(optarg, &end, 10);
                        if (errno || *end || period == 0) {
                                fprintf(stderr, "cgroup-helper: bad --period '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'c':
                        cpuset = optarg;
                        break;
                case 'm':
                        move_to = optarg;
                        if (!name_ok(move_to)) {
                                fprintf(stderr, "cgroup-helper: '%s': only %s* names are allowed\n",
                                        move_to, PREFIX);
                                return 2;
                        }
                        break;
                case 'u':
                        unshare_ns = true;
                        break;
                default:
                        return usage();
                }
        }
        if (strcmp(cmd, "create") == 0)
                return optind == argc ? do_create(name, quota, period, cpuset) : usage();
        if (strcmp(cmd, "delete") == 0)
                return optind == argc ? do_delete(name) : usage();
        if (strcmp(cmd, "run") == 0) {
                if (optind >= argc)
                        return usage();
                return do_run(name, move_to, unshare_ns, argv + optind);
        }
        return usage();
}
