/* SPDX-License-Identifier: MIT */
/*
 * Regression runner for a fuzz target without libFuzzer: feeds every file of the directories (or
 * files) named on the command line to LLVMFuzzerTestOneInput() once.  Exit 0 when none aborted.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rbe");
        uint8_t *buf;
        long len;

        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
                fclose(f);
                return -1;
        }
        /* An exact-size heap copy, so ASan sees any read past the end. */
        buf = malloc(len ? (size_t)len : 1);
        if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
                free(buf);
                fclose(f);
                return -1;
        }
        fclose(f);
        (void)LLVMFuzzerTestOneInput(buf, (size_t)len);
        free(buf);
        return 0;
}

int main(int argc, char **argv)
{
        int n = 0, failed = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                DIR *d;
                struct dirent *de;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        failed += run_file(argv[i]) < 0;
                        n++;
                        continue;
                }
                d = opendir(argv[i]);
                if (!d)
                        return 1;
                while ((de = readdir(d))) {
                        char p[4096];

                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
                        failed += run_file(p) < 0;
                        n++;
                }
                closedir(d);
        }
        /* The empty input too. */
        (void)LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
        printf("%d inputs, %d unreadable\n", n, failed);
        return failed || n == 0 ? 1 : 0;
}
