/* tandem hw list | show */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tandem/hw.h"

void td_usage_hw(void)
{
    printf("usage: tandem hw list [DIR]\n"
           "       tandem hw show FILE\n\n"
           "list: the hardware templates, and the descriptions in DIR (default examples/hw).\n"
           "show: load a description (YAML) and print its accelerators and layer assignment.\n"
           "Descriptions are documented in include/tandem/hw.h and examples/hw/.\n");
}

static int show(const char *path)
{
    td_hw_desc *d;
    td_status st = td_hw_load(path, &d);
    if (st)
        return td_cli_fail(st);
    printf("%s: %d accelerator%s\n", d->name, d->n_accels, d->n_accels == 1 ? "" : "s");
    for (int i = 0; i < d->n_accels; i++) {
        char line[512];
        td_hw_describe(&d->accels[i], line, sizeof line);
        printf("  %-16s %s\n", d->accels[i].name, line);
    }
    for (int i = 0; i < d->n_assign; i++)
        printf("  layers matching '%s' -> %s\n", d->assign[i].match,
               d->accels[d->assign[i].accel].name);
    td_hw_free(d);
    return TD_EXIT_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list(const char *dir)
{
    printf("templates:");
    for (int t = 0; t < TD_HW_TEMPLATE_COUNT; t++)
        printf(" %s", td_hw_template_name((td_hw_template)t));
    printf("\n\n%s:\n", dir);
    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr, "tandem hw: %s: cannot open the folder\n", dir);
        return TD_EXIT_FAIL;
    }
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(dp)) != NULL && n < 256;) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(dp);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int rc = TD_EXIT_OK;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        td_hw_desc *d;
        td_status st = td_hw_load(path, &d);
        if (st) {
            fprintf(stderr, "tandem hw: %s\n", td_status_message(st));
            td_status_free(st);
            rc = TD_EXIT_FAIL;
        } else {
            char line[512];
            td_hw_describe(&d->accels[0], line, sizeof line);
            if (d->n_accels > 1)
                snprintf(line, sizeof line, "heterogeneous, %d accelerators", d->n_accels);
            printf("  %-24s %-14s %s\n", names[i], d->name, line);
            td_hw_free(d);
        }
        free(names[i]);
    }
    return rc;
}

int td_cmd_hw(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "list") && argc <= 3)
        return list(argc == 3 ? argv[2] : "examples/hw");
    if (argc == 3 && !strcmp(argv[1], "show"))
        return show(argv[2]);
    fprintf(stderr, "tandem hw: expected 'list [DIR]' or 'show FILE' (see 'tandem hw --help')\n");
    return TD_EXIT_USAGE;
}
