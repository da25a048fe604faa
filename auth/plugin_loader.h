/* plugin_loader: turns an authentication plugin (auth/plugin.h) into a backend of the auth
 * chain (auth/backend.h). Used by the auth daemon only.
 *
 * Promises: only an absolute path to a regular file owned by root or by us and writable by
 * nobody else is loaded, with dlopen(RTLD_NOW | RTLD_LOCAL); a missing entry point, another
 * ABI version, a malformed descriptor or a failing init() refuses the plugin with an error
 * saying which. Each call hands the plugin fresh copies of the request fields (never
 * pointers into the daemon), wiped after the call; its answer is checked (an invalid answer
 * or identity is a DENY) and its reason cleaned of control characters. */
#ifndef BULWARK_PLUGIN_LOADER_H
#define BULWARK_PLUGIN_LOADER_H

#include <stddef.h>

#include "backend.h"

/* Loads the plugin at path and calls its init(config) (NULL config: ""). Returns the
 * backend, or NULL with a message in err. b->destroy(b->ctx) calls the plugin's destroy(),
 * unloads it and frees b. */
struct auth_backend *plugin_backend_load(const char *path, const char *config, char *err,
                                         size_t errlen);

#endif
