/* Reference-counted outgoing messages (see msgbuf.h). */
#include "core/msgbuf.h"

#include <string.h>

#include "core/xalloc.h"

struct msgbuf *msgbuf_new(size_t size_hint)
{
    struct msgbuf *m = xmalloc(sizeof *m);
    m->refs = 1;
    m->len = 0;
    m->cap = size_hint < 64 ? 64 : size_hint;
    m->mem = xmalloc(MSGBUF_HEADROOM + m->cap);
    return m;
}

struct msgbuf *msgbuf_ref(struct msgbuf *m)
{
    m->refs++;
    return m;
}

void msgbuf_unref(struct msgbuf *m)
{
    if (!m || --m->refs > 0) {
        return;
    }
    free(m->mem);
    free(m);
}

unsigned char *msgbuf_data(struct msgbuf *m)
{
    return m->mem + MSGBUF_HEADROOM;
}

void msgbuf_append(struct msgbuf *m, const void *data, size_t len)
{
    if (m->len + len > m->cap) {
        size_t cap = m->cap * 2;
        while (cap < m->len + len) {
            cap *= 2;
        }
        m->mem = xrealloc(m->mem, MSGBUF_HEADROOM + cap);
        m->cap = cap;
    }
    memcpy(m->mem + MSGBUF_HEADROOM + m->len, data, len);
    m->len += len;
}

static int pack_write(void *data, const char *buf, size_t len)
{
    msgbuf_append(data, buf, len);
    return 0;
}

void msgbuf_packer_init(struct msgbuf *m, msgpack_packer *pk)
{
    msgpack_packer_init(pk, m, pack_write);
}
