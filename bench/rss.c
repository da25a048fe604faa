/* Process-tree RSS from /proc. */
#include "rss.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int last_count;

/* Value in kB of the first line starting with key in a /proc file, -1 if absent. */
static long field_kib(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0) {
            v = strtol(line + klen, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static long one_kib(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
    long v = field_kib(path, "Rss:");
    if (v >= 0)
        return v;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    return field_kib(path, "VmRSS:");
}

/* Appends the children of every thread of pid to list[*n..RSS_MAX_PROCS). */
static void children(int pid, int *list, int *n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char cpath[300];
        snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", pid, e->d_name);
        FILE *f = fopen(cpath, "r");
        if (!f)
            continue;
        int child;
        while (*n < RSS_MAX_PROCS && fscanf(f, "%d", &child) == 1)
            list[(*n)++] = child;
        fclose(f);
    }
    closedir(d);
}

long rss_tree_kib(int pid)
{
    int list[RSS_MAX_PROCS];
    int n = 1;
    list[0] = pid;
    long total = 0;
    /* Breadth-first: list grows as children are found. */
    for (int i = 0; i < n; i++) {
        long v = one_kib(list[i]);
        if (v < 0) {
            if (i == 0)
                return -1;
            continue; /* a child exited between listing and reading */
        }
        total += v;
        children(list[i], list, &n);
    }
    last_count = n;
    return total;
}

int rss_tree_count(void)
{
    return last_count;
}
