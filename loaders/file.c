/* Opening regular files for the loaders (file.h): no zlib, so every build
 * has it, the one without the dataset readers included. */
#include "file.h"

#include "ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* path: any string or NULL. Returns 1 when stat() sees something there. */
int varia_path_exists(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0;
}

/* file.h has the contract: a descriptor of a regular file, or -1 with the
 * message in ctx; the caller closes it. */
int varia_open_regular(varia_ctx *ctx, const char *path, const char *what)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        varia_fail(ctx, VARIA_ERR_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        varia_fail(ctx, VARIA_ERR_IO, "%s '%s' is not a regular file", what, path);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); /* ordinary reads from here on */
    return fd;
}
