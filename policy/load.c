/* load: file to compiled policy. The file is read whole and bounded, checked by libyaml,
 * parsed, validated and compiled; any error frees everything and reports them all. */
#include "policy_int.h"

#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static void yaml_error(struct pol_errors *e, const yaml_parser_t *y, const char *text, size_t len)
{
    yaml_mark_t mark = y->problem_mark;
    if (y->error == YAML_MEMORY_ERROR) {
        pol_err(e, mark, "out of memory while reading YAML");
        return;
    }
    if (y->error == YAML_READER_ERROR) { /* a byte offset only: count the lines */
        memset(&mark, 0, sizeof(mark));
        for (size_t i = 0; i < y->problem_offset && i < len; i++) {
            if (text[i] == '\n') {
                mark.line++;
                mark.column = 0;
            } else {
                mark.column++;
            }
        }
    }
    const char *problem = y->problem ? y->problem : "invalid YAML";
    if (y->context)
        pol_err(e, mark, "%s (%s at line %zu column %zu)", problem, y->context,
                y->context_mark.line + 1, y->context_mark.column + 1);
    else
        pol_err(e, mark, "%s", problem);
}

/* Aliases let a small file expand into a huge tree and make a reviewer chase anchors:
 * refused, found by a pass over the events (the document API resolves them silently).
 * Also refuses a second document, which would be ignored. */
static int check_events(struct pol_errors *e, const char *text, size_t len)
{
    yaml_parser_t y;
    if (!yaml_parser_initialize(&y))
        return -1;
    yaml_parser_set_input_string(&y, (const unsigned char *)text, len);
    int rc = 0, docs = 0;
    for (bool done = false; !done;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&y, &ev)) {
            yaml_error(e, &y, text, len);
            rc = -1;
            break;
        }
        if (ev.type == YAML_ALIAS_EVENT) {
            pol_err(e, ev.start_mark,
                    "YAML aliases (*%.32s) are not allowed in a policy: write the value out",
                    (const char *)ev.data.alias.anchor);
            rc = -1;
        } else if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs == 2) {
            pol_err(e, ev.start_mark, "only one YAML document is allowed in a policy");
            rc = -1;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y);
    return rc;
}

static int parse_text(struct policy *p, struct pol_errors *e, const char *text, size_t len)
{
    if (check_events(e, text, len) < 0)
        return -1;
    yaml_parser_t y;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&y))
        return -1;
    yaml_parser_set_input_string(&y, (const unsigned char *)text, len);
    int rc = -1;
    if (!yaml_parser_load(&y, &doc)) {
        yaml_error(e, &y, text, len);
    } else {
        struct pol_parse ps = {.p = p, .doc = &doc, .err = e};
        rc = pol_parse_root(&ps, yaml_document_get_root_node(&doc));
        if (pol_validate(p, e) < 0)
            rc = -1;
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&y);
    return rc;
}

struct policy *policy_load(const char *path, char *err, size_t errlen)
{
    char scratch[1];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    err[0] = '\0';
    if (!path) {
        snprintf(err, errlen, "policy_load: no path");
        return NULL;
    }
    size_t len = 0;
    char *text = read_file_bounded(path, POL_FILE_MAX, &len, err, errlen);
    if (!text)
        return NULL;
    struct policy *p = calloc(1, sizeof(*p));
    struct pol_errors *e = calloc(1, sizeof(*e));
    if (!p || !e) {
        snprintf(err, errlen, "%s: out of memory", path);
        free(p);
        free(e);
        free(text);
        return NULL;
    }
    strmap_init(&p->id_by_name);
    strmap_init(&p->group_by_name);
    strmap_init(&p->exact_client);
    strmap_init(&p->exact_cn);
    e->path = path;
    p->path = arena_strndup(&p->arena, path, strlen(path));
    int rc = p->path ? parse_text(p, e, text, len) : -1;
    if (rc == 0 && !p->arena.failed && pol_compile(p) < 0)
        rc = -1;
    if (rc < 0 || p->arena.failed) {
        if (e->count)
            pol_err_render(e, err, errlen);
        else
            snprintf(err, errlen, "%s: out of memory", path);
        policy_free(p);
        p = NULL;
    }
    free(e);
    free(text);
    return p;
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    pol_index_free(p);
    arena_free(&p->arena);
    free(p);
}
