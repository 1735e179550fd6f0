/* export.h: the shim exports its hooks and nothing else (-fvisibility=hidden elsewhere), as
 * plain unversioned symbols: a versioned export such as accept4@GLIBC_2.2.5 silently fails to
 * bind against glibc's accept4@GLIBC_2.10. */
#ifndef HOTSWAP_EXPORT_H
#define HOTSWAP_EXPORT_H

#define HS_EXPORT __attribute__((visibility("default")))

#endif
