/*
 * crm_ledger.ledger._native: the verifier's bulk checks and the writer's envelope
 * sealing, in C.
 *
 * `check_lines` accepts a run of `entries.jsonl` lines only when each line and its
 * envelope have exactly the bytes the exporter and the ledger write for the common
 * case (members in their fixed order, no whitespace, integers in canonical form,
 * strings of printable ASCII with no escapes but the envelope's \" inside its line),
 * and every check of `crm_ledger.ledger.batch_check.check_batch` passes.
 * `check_columns` does the same for a batch already read into columns (entries read
 * from the database), with envelopes of printable ASCII. Anything else, however
 * harmless, gives None and the verifier takes the Python path, which handles every
 * input and places every finding. So this module never decides that something is
 * wrong; it only confirms, faster, what the Python checks would confirm
 * (tests/property/test_native_check.py compares them).
 *
 * `seal_links` is the writer's side: it writes the canonical bytes and leaf hashes of a
 * batch's envelopes when every member is plain (printable ASCII text without '"' or
 * '\\', integers in 0..2**53-1), and otherwise declines (None), leaving the batch to the
 * Python path, which writes the same bytes (the same tests compare them).
 *
 * SHA-256 is OpenSSL's (EVP); nothing here implements a cryptographic primitive.
 * Every call holds the GIL throughout (it shares one work buffer between calls).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <string.h>

#define MAX_SAFE_INTEGER 9007199254740991LL
#define HASH_SIZE 32

static EVP_MD *sha256_md = NULL;

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} Cursor;

typedef struct {
    const unsigned char *s;
    Py_ssize_t n;
} Span;

static int
literal(Cursor *c, const char *text, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, text, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

#define LITERAL(c, text) literal((c), (text), sizeof(text) - 1)

/* A canonical JSON integer in 0..2**53-1: "0" or a digit 1-9 then digits. */
static int
uint53(Cursor *c, long long *out)
{
    const unsigned char *p = c->p;
    long long value = 0;
    int digits = 0;
    if (p < c->end && *p == '0') {
        c->p = p + 1;
        *out = 0;
        return 1;
    }
    while (p < c->end && *p >= '0' && *p <= '9') {
        if (++digits > 16)
            return 0;
        value = value * 10 + (*p - '0');
        p++;
    }
    if (digits == 0 || value > MAX_SAFE_INTEGER)
        return 0;
    c->p = p;
    *out = value;
    return 1;
}

/* The rest of a JSON string (its opening quote already read) up to its closing quote,
 * as raw bytes. Nothing is checked here, and nothing need be: an envelope's strings are
 * read after envelope_string, which lets only printable ASCII without a backslash
 * through; a line's own strings are each compared with such an envelope string
 * (originator_id, topic), with lowercase hex (leaf_hash) or decoded as base64 (state),
 * so one holding an escape or any other byte is refused there. */
static int
plain(Cursor *c, Span *out)
{
    const unsigned char *p = memchr(c->p, '"', (size_t)(c->end - c->p));
    if (p == NULL)
        return 0;
    out->s = c->p;
    out->n = p - c->p;
    c->p = p + 1;
    return 1;
}

/* Bytes that end a run of plain envelope text: '"', '\\' and all but printable ASCII. */
static unsigned char special[256];

/* The envelope string of a line, unescaped into `buffer`: printable ASCII where the
 * only escape is \\" (so the envelope itself holds no backslash). */
static int
envelope_string(Cursor *c, unsigned char *buffer, Py_ssize_t *length)
{
    const unsigned char *p = c->p, *end = c->end;
    unsigned char *out = buffer;
    for (;;) {
        while (p < end && !special[*p])
            *out++ = *p++;
        if (p >= end)
            return 0;
        if (*p == '"') {
            *length = out - buffer;
            c->p = p + 1;
            return 1;
        }
        if (*p != '\\' || p + 1 >= end || p[1] != '"')
            return 0;
        *out++ = '"';
        p += 2;
    }
}

static int
same(Span a, Span b)
{
    return a.n == b.n && memcmp(a.s, b.s, (size_t)a.n) == 0;
}

/* Python's str ordering of ASCII (or UTF-8) text is the byte order. */
static int
compare(Span a, Span b)
{
    Py_ssize_t n = a.n < b.n ? a.n : b.n;
    int order = memcmp(a.s, b.s, (size_t)n);
    if (order != 0)
        return order;
    return (a.n > b.n) - (a.n < b.n);
}

static const char HEX[] = "0123456789abcdef";

static void
to_hex(const unsigned char *digest, unsigned char *out)
{
    for (int i = 0; i < HASH_SIZE; i++) {
        out[2 * i] = (unsigned char)HEX[digest[i] >> 4];
        out[2 * i + 1] = (unsigned char)HEX[digest[i] & 15];
    }
}

static int
b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Decode base64 (RFC 4648 alphabet, length a multiple of 4, "=" only as the last one
 * or two characters): the bytes binascii.a2b_base64(strict_mode=True) gives for such
 * text (both ignore the unused bits before the padding). */
static int
base64_decode(Span text, unsigned char *out, Py_ssize_t *length)
{
    Py_ssize_t n = text.n, written = 0;
    if (n % 4 != 0)
        return 0;
    for (Py_ssize_t i = 0; i < n; i += 4) {
        const unsigned char *q = text.s + i;
        int a = b64_value(q[0]), b = b64_value(q[1]), c, d;
        if (a < 0 || b < 0)
            return 0;
        if (i + 4 == n && q[2] == '=') {
            if (q[3] != '=')
                return 0;
            out[written++] = (unsigned char)(a << 2 | b >> 4);
            break;
        }
        c = b64_value(q[2]);
        if (c < 0)
            return 0;
        if (i + 4 == n && q[3] == '=') {
            out[written++] = (unsigned char)(a << 2 | b >> 4);
            out[written++] = (unsigned char)((b & 15) << 4 | c >> 2);
            break;
        }
        d = b64_value(q[3]);
        if (d < 0)
            return 0;
        out[written++] = (unsigned char)(a << 2 | b >> 4);
        out[written++] = (unsigned char)((b & 15) << 4 | c >> 2);
        out[written++] = (unsigned char)((c & 3) << 6 | d);
    }
    *length = written;
    return 1;
}

static int
sha256(EVP_MD_CTX *ctx, const unsigned char *data, size_t n, unsigned char *out)
{
    return EVP_DigestInit_ex2(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, data, n) &&
           EVP_DigestFinal_ex(ctx, out, NULL);
}

/* An exact int in the range of long long, or 0. */
static int
exact_int(PyObject *value, long long *out)
{
    int overflow = 0;
    if (!PyLong_CheckExact(value))
        return 0;
    *out = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow != 0 || (*out == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* The UTF-8 bytes of an exact str, or 0 (lone surrogates included). */
static int
exact_text(PyObject *value, Span *out)
{
    const char *s;
    if (!PyUnicode_CheckExact(value))
        return 0;
    s = PyUnicode_AsUTF8AndSize(value, &out->n);
    if (s == NULL) {
        PyErr_Clear();
        return 0;
    }
    out->s = (const unsigned char *)s;
    return 1;
}

typedef struct {
    long long leaf_index, seq, originator_version, aggregate_version;
    Span leaf_hash, originator_id, topic, state;
    Span actor, aggregate_id, log, prev, recorded_at, state_sha256, envelope_topic;
    long long envelope_seq;
} Line;

/* What the verifier knows after the entries before the batch, then after each entry of
 * it checked here (see batch_check.Tip). Its spans point into the caller's str objects
 * or into the entry checked last, which stay readable while they are used. */
typedef struct {
    long long expected_index, last_seq;
    Span prev_hex, last_time, origin;
    PyObject *origin_given; /* the tip's origin, or NULL: the batch's first log */
    unsigned char prev_buffer[2 * HASH_SIZE];
} Tip;

/* The tip from the verifier's values; 0 when one is not of its exact type or is out of
 * range of a long long (the batch is then left to Python). */
static int
read_tip(Tip *tip, PyObject *expected_index, PyObject *prev_hex, PyObject *last_seq,
         PyObject *last_time, PyObject *origin)
{
    tip->origin_given = origin == Py_None ? NULL : origin;
    tip->origin.s = NULL;
    tip->origin.n = 0;
    return exact_int(expected_index, &tip->expected_index) &&
           exact_text(prev_hex, &tip->prev_hex) &&
           exact_int(last_seq, &tip->last_seq) && exact_text(last_time, &tip->last_time) &&
           (tip->origin_given == NULL || exact_text(origin, &tip->origin));
}

/* The tip after `line`, whose leaf hash is `leaf`: the next entry is checked against it. */
static void
advance(Tip *tip, const Line *line, const unsigned char *leaf)
{
    tip->expected_index++; /* it equalled a leaf index, at most 2**53 - 1: no overflow */
    tip->last_seq = line->envelope_seq;
    tip->last_time = line->recorded_at;
    to_hex(leaf, tip->prev_buffer);
    tip->prev_hex.s = tip->prev_buffer;
    tip->prev_hex.n = 2 * HASH_SIZE;
}

/* The origin the batch was checked against, as a str (a new reference). */
static PyObject *
origin_of(const Tip *tip)
{
    if (tip->origin_given != NULL)
        return Py_NewRef(tip->origin_given);
    return PyUnicode_FromStringAndSize((const char *)tip->origin.s, tip->origin.n);
}

/* Parse canonical envelope bytes (printable ASCII, no backslash: the callers make
 * sure) with the v1 members in their sorted order into `line`. */
static int
parse_envelope(const unsigned char *canonical, Py_ssize_t n, Line *line)
{
    Cursor env = {canonical, canonical + n};
    long long version;
    return LITERAL(&env, "{\"actor\":\"") && plain(&env, &line->actor) &&
           LITERAL(&env, ",\"aggregate_id\":\"") && plain(&env, &line->aggregate_id) &&
           LITERAL(&env, ",\"aggregate_version\":") && uint53(&env, &line->aggregate_version) &&
           LITERAL(&env, ",\"log\":\"") && plain(&env, &line->log) &&
           LITERAL(&env, ",\"prev\":\"") && plain(&env, &line->prev) &&
           LITERAL(&env, ",\"recorded_at\":\"") && plain(&env, &line->recorded_at) &&
           LITERAL(&env, ",\"seq\":") && uint53(&env, &line->envelope_seq) &&
           LITERAL(&env, ",\"state_sha256\":\"") && plain(&env, &line->state_sha256) &&
           LITERAL(&env, ",\"topic\":\"") && plain(&env, &line->envelope_topic) &&
           LITERAL(&env, ",\"v\":") && uint53(&env, &version) && version == 1 &&
           LITERAL(&env, "}") && env.p == env.end;
}

/* Parse one line of `c` (through its newline) into `line`; the envelope's canonical
 * bytes go to `canonical` (its length to `*canonical_n`). */
static int
parse_line(Cursor *c, Line *line, unsigned char *canonical, Py_ssize_t *canonical_n)
{
    return LITERAL(c, "{\"leaf_index\":") && uint53(c, &line->leaf_index) &&
           LITERAL(c, ",\"seq\":") && uint53(c, &line->seq) &&
           LITERAL(c, ",\"envelope\":\"") && envelope_string(c, canonical, canonical_n) &&
           LITERAL(c, ",\"leaf_hash\":\"") && plain(c, &line->leaf_hash) &&
           LITERAL(c, ",\"originator_id\":\"") && plain(c, &line->originator_id) &&
           LITERAL(c, ",\"originator_version\":") && uint53(c, &line->originator_version) &&
           LITERAL(c, ",\"topic\":\"") && plain(c, &line->topic) &&
           LITERAL(c, ",\"state\":\"") && plain(c, &line->state) && LITERAL(c, "}\n") &&
           parse_envelope(canonical, *canonical_n, line);
}

/* SHA-256(0x00 || canonical): the entry's leaf hash. */
static int
leaf_sha256(EVP_MD_CTX *ctx, const unsigned char *canonical, Py_ssize_t n, unsigned char *leaf)
{
    static const unsigned char prefix = 0x00;
    return EVP_DigestInit_ex2(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, &prefix, 1) &&
           EVP_DigestUpdate(ctx, canonical, (size_t)n) && EVP_DigestFinal_ex(ctx, leaf, NULL);
}

/* The checks of one parsed entry after `tip` (see check_batch), but for its stored leaf
 * hash, which the caller compares with `leaf` (computed here). */
static int
entry_ok(EVP_MD_CTX *ctx, const Line *line, const Tip *tip, const unsigned char *state,
         Py_ssize_t state_n, const unsigned char *canonical, Py_ssize_t canonical_n,
         unsigned char *leaf)
{
    unsigned char digest[HASH_SIZE], hex[2 * HASH_SIZE];
    Span computed = {hex, 2 * HASH_SIZE};
    if (line->leaf_index != tip->expected_index || line->seq != line->envelope_seq ||
        line->originator_version != line->aggregate_version ||
        !same(line->originator_id, line->aggregate_id) ||
        !same(line->topic, line->envelope_topic) || !same(line->log, tip->origin) ||
        line->envelope_seq <= tip->last_seq || compare(line->recorded_at, tip->last_time) < 0 ||
        !same(line->prev, tip->prev_hex))
        return 0;
    /* the stored event bytes */
    if (!sha256(ctx, state, (size_t)state_n, digest))
        return 0;
    to_hex(digest, hex);
    return same(line->state_sha256, computed) && leaf_sha256(ctx, canonical, canonical_n, leaf);
}

/* One buffer for every call, grown as needed and kept: calls hold the GIL throughout,
 * so they never overlap, and a block's worth of memory is not mapped again each time. */
static unsigned char *work_memory = NULL;
static size_t work_size = 0;

static unsigned char *
work_buffer(size_t size)
{
    if (size > work_size) {
        unsigned char *grown = PyMem_Realloc(work_memory, size);
        if (grown == NULL)
            return NULL;
        work_memory = grown;
        work_size = size;
    }
    return work_memory;
}

PyDoc_STRVAR(check_lines_doc,
"check_lines(data, expected_index, prev_hex, last_seq, last_time, origin, watch)\n--\n\n"
"Bundle lines after a tip: (leaf hashes, first seq, last seq, last recorded_at, origin,\n"
"last leaf hash in hex, positions of the lines whose topic is in `watch`, a tuple of\n"
"bytes) when every line is clean in the common form, else None.");

#define MAX_WATCH 8

static PyObject *
check_lines(PyObject *module, PyObject *args)
{
    Py_buffer data;
    PyObject *expected_obj, *prev_obj, *last_seq_obj, *last_time_obj, *origin_obj, *watch;
    PyObject *leaves = NULL, *result = NULL, *watched = NULL;
    Span watched_topics[MAX_WATCH];
    Py_ssize_t watch_n;
    unsigned char *work = NULL;
    EVP_MD_CTX *ctx = NULL;
    long long first_seq = 0;
    Tip tip;
    Py_ssize_t lines = 0;

    if (!PyArg_ParseTuple(args, "y*OOOOOO!:check_lines", &data, &expected_obj, &prev_obj,
                          &last_seq_obj, &last_time_obj, &origin_obj, &PyTuple_Type, &watch))
        return NULL;
    watch_n = PyTuple_GET_SIZE(watch);
    if (watch_n > MAX_WATCH) {
        PyErr_SetString(PyExc_ValueError, "check_lines: at most 8 watched topics");
        PyBuffer_Release(&data);
        return NULL;
    }
    for (Py_ssize_t k = 0; k < watch_n; k++) {
        PyObject *topic = PyTuple_GET_ITEM(watch, k);
        if (!PyBytes_CheckExact(topic)) {
            PyErr_SetString(PyExc_TypeError, "check_lines: watched topics must be bytes");
            PyBuffer_Release(&data);
            return NULL;
        }
        watched_topics[k].s = (const unsigned char *)PyBytes_AS_STRING(topic);
        watched_topics[k].n = PyBytes_GET_SIZE(topic);
    }
    const unsigned char *start = data.buf, *end = start + data.len;
    if (data.len == 0 || end[-1] != '\n' ||
        !read_tip(&tip, expected_obj, prev_obj, last_seq_obj, last_time_obj, origin_obj))
        goto not_clean;
    for (const unsigned char *p = start; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        lines++;
    leaves = PyTuple_New(lines);
    watched = PyList_New(0);
    /* [envelope A][envelope B][decoded state][origin]: the envelopes of consecutive
     * lines alternate between A and B, so the line before stays readable; no part can
     * outgrow the data */
    work = work_buffer((size_t)data.len * 4);
    ctx = EVP_MD_CTX_new();
    if (leaves == NULL || watched == NULL || work == NULL || ctx == NULL) {
        if (work == NULL || ctx == NULL)
            PyErr_NoMemory();
        goto done;
    }
    unsigned char *envelopes[2] = {work, work + data.len};
    unsigned char *scratch = work + 2 * data.len, *origin_copy = work + 3 * data.len;
    Cursor c = {start, end};
    Line line;
    for (Py_ssize_t i = 0; i < lines; i++) {
        Py_ssize_t canonical_n;
        unsigned char leaf[HASH_SIZE], *canonical = envelopes[i & 1];
        if (!parse_line(&c, &line, canonical, &canonical_n))
            goto not_clean;
        if (i == 0 && tip.origin_given == NULL) {
            memcpy(origin_copy, line.log.s, (size_t)line.log.n);
            tip.origin.s = origin_copy;
            tip.origin.n = line.log.n;
        }
        Py_ssize_t state_n;
        unsigned char leaf_hex[2 * HASH_SIZE];
        Span computed = {leaf_hex, 2 * HASH_SIZE};
        if (!base64_decode(line.state, scratch, &state_n) ||
            !entry_ok(ctx, &line, &tip, scratch, state_n, canonical, canonical_n, leaf))
            goto not_clean;
        to_hex(leaf, leaf_hex);
        if (!same(line.leaf_hash, computed))
            goto not_clean;
        PyObject *item = PyBytes_FromStringAndSize((const char *)leaf, HASH_SIZE);
        if (item == NULL)
            goto done;
        PyTuple_SET_ITEM(leaves, i, item);
        for (Py_ssize_t k = 0; k < watch_n; k++) {
            if (same(line.topic, watched_topics[k])) {
                PyObject *position = PyLong_FromSsize_t(i);
                int failed = position == NULL || PyList_Append(watched, position) < 0;
                Py_XDECREF(position);
                if (failed)
                    goto done;
                break;
            }
        }
        if (i == 0)
            first_seq = line.envelope_seq;
        advance(&tip, &line, leaf);
    }
    /* (every line ends at one of the `lines` newlines, the last at the data's end) */
    PyObject *origin_out = origin_of(&tip);
    if (origin_out == NULL)
        goto done;
    PyObject *watched_tuple = PyList_AsTuple(watched);
    if (watched_tuple == NULL) {
        Py_DECREF(origin_out);
        goto done;
    }
    result = Py_BuildValue("(OLLs#Ns#N)", leaves, first_seq, tip.last_seq,
                           (const char *)tip.last_time.s, tip.last_time.n, origin_out,
                           (const char *)tip.prev_hex.s, tip.prev_hex.n, watched_tuple);
    goto done;
not_clean:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(leaves);
    Py_XDECREF(watched);
    EVP_MD_CTX_free(ctx);
    PyBuffer_Release(&data);
    return result;
}

/* Text a canonical envelope may hold here: printable ASCII without a backslash. */
static int
printable(const unsigned char *p, Py_ssize_t n)
{
    unsigned bad = 0;
    for (Py_ssize_t i = 0; i < n; i++) /* no early exit: vectorised */
        bad |= (unsigned)(p[i] < 0x20) | (unsigned)(p[i] > 0x7e) | (unsigned)(p[i] == '\\');
    return !bad;
}

static int
exact_bytes(PyObject *value, Span *out)
{
    if (!PyBytes_CheckExact(value))
        return 0;
    out->s = (const unsigned char *)PyBytes_AS_STRING(value);
    out->n = PyBytes_GET_SIZE(value);
    return 1;
}

#define COLUMNS 8

PyDoc_STRVAR(check_columns_doc,
"check_columns(columns, expected_index, prev_hex, last_seq, last_time, origin)\n--\n\n"
"A batch as columns (leaf_index, seq, canonical, leaf_hash, originator_id,\n"
"originator_version, topic, state: tuples of one length) after a tip: (leaf hashes,\n"
"last seq, last recorded_at, origin, last leaf hash in hex) when every entry is clean\n"
"and its envelope is canonical printable ASCII, else None.");

static PyObject *
check_columns(PyObject *module, PyObject *args)
{
    PyObject *columns, *expected_obj, *prev_obj, *last_seq_obj, *last_time_obj, *origin_obj;
    PyObject *column[COLUMNS], *leaves = NULL, *result = NULL;
    EVP_MD_CTX *ctx = NULL;
    Tip tip;
    Py_ssize_t n;

    if (!PyArg_ParseTuple(args, "O!OOOOO:check_columns", &PyTuple_Type, &columns, &expected_obj,
                          &prev_obj, &last_seq_obj, &last_time_obj, &origin_obj))
        return NULL;
    if (PyTuple_GET_SIZE(columns) != COLUMNS) {
        PyErr_SetString(PyExc_ValueError, "check_columns: eight columns are required");
        return NULL;
    }
    for (int k = 0; k < COLUMNS; k++) {
        column[k] = PyTuple_GET_ITEM(columns, k);
        if (!PyTuple_CheckExact(column[k])) {
            PyErr_SetString(PyExc_TypeError, "check_columns: every column must be a tuple");
            return NULL;
        }
    }
    n = PyTuple_GET_SIZE(column[0]);
    for (int k = 1; k < COLUMNS; k++) {
        if (PyTuple_GET_SIZE(column[k]) != n) {
            PyErr_SetString(PyExc_ValueError, "check_columns: columns of different lengths");
            return NULL;
        }
    }
    if (n == 0 || !read_tip(&tip, expected_obj, prev_obj, last_seq_obj, last_time_obj, origin_obj))
        return Py_NewRef(Py_None);
    leaves = PyTuple_New(n);
    ctx = EVP_MD_CTX_new();
    if (leaves == NULL || ctx == NULL) {
        if (ctx == NULL)
            PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Line line;
        Span canonical, stored_leaf, state;
        unsigned char leaf[HASH_SIZE];
        PyObject *stored = PyTuple_GET_ITEM(column[3], i);
        if (!exact_int(PyTuple_GET_ITEM(column[0], i), &line.leaf_index) ||
            !exact_int(PyTuple_GET_ITEM(column[1], i), &line.seq) ||
            !exact_bytes(PyTuple_GET_ITEM(column[2], i), &canonical) ||
            !exact_bytes(stored, &stored_leaf) ||
            !exact_text(PyTuple_GET_ITEM(column[4], i), &line.originator_id) ||
            !exact_int(PyTuple_GET_ITEM(column[5], i), &line.originator_version) ||
            !exact_text(PyTuple_GET_ITEM(column[6], i), &line.topic) ||
            !exact_bytes(PyTuple_GET_ITEM(column[7], i), &state) ||
            !printable(canonical.s, canonical.n) ||
            !parse_envelope(canonical.s, canonical.n, &line))
            goto not_clean;
        if (i == 0 && tip.origin_given == NULL)
            tip.origin = line.log; /* in entry 0's envelope, alive as long as the columns */
        if (!entry_ok(ctx, &line, &tip, state.s, state.n, canonical.s, canonical.n, leaf) ||
            stored_leaf.n != HASH_SIZE || memcmp(stored_leaf.s, leaf, HASH_SIZE) != 0)
            goto not_clean;
        PyTuple_SET_ITEM(leaves, i, Py_NewRef(stored)); /* equal to the leaf computed */
        advance(&tip, &line, leaf); /* last_time: in this entry's envelope, alive likewise */
    }
    PyObject *origin_out = origin_of(&tip);
    if (origin_out == NULL)
        goto done;
    result = Py_BuildValue("(OLs#Ns#)", leaves, tip.last_seq, (const char *)tip.last_time.s,
                           tip.last_time.n, origin_out, (const char *)tip.prev_hex.s,
                           tip.prev_hex.n);
    goto done;
not_clean:
    result = Py_NewRef(Py_None);
done:
    Py_XDECREF(leaves);
    EVP_MD_CTX_free(ctx);
    return result;
}

PyDoc_STRVAR(node_hashes_doc,
"node_hashes(level)\n--\n\n"
"[SHA-256(0x01 || level[0] || level[1]), SHA-256(0x01 || level[2] || level[3]), ...]\n"
"for a list or tuple of bytes of even length (RFC 6962 interior nodes).");

static PyObject *
node_hashes(PyObject *module, PyObject *level)
{
    PyObject *items, *result = NULL;
    EVP_MD_CTX *ctx;
    static const unsigned char prefix = 0x01;
    items = PySequence_Fast(level, "node_hashes: a list or tuple of bytes is required");
    if (items == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    PyObject **values = PySequence_Fast_ITEMS(items);
    if (n % 2 != 0) {
        PyErr_SetString(PyExc_ValueError, "node_hashes: an even number of hashes is required");
        Py_DECREF(items);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_CheckExact(values[i])) {
            PyErr_SetString(PyExc_TypeError, "node_hashes: every hash must be bytes");
            Py_DECREF(items);
            return NULL;
        }
    }
    ctx = EVP_MD_CTX_new();
    result = PyList_New(n / 2);
    if (ctx == NULL || result == NULL) {
        if (ctx == NULL)
            PyErr_NoMemory();
        Py_CLEAR(result);
        goto done;
    }
    for (Py_ssize_t i = 0; i < n / 2; i++) {
        unsigned char digest[HASH_SIZE];
        PyObject *left = values[2 * i], *right = values[2 * i + 1];
        if (!(EVP_DigestInit_ex2(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, &prefix, 1) &&
              EVP_DigestUpdate(ctx, PyBytes_AS_STRING(left), (size_t)PyBytes_GET_SIZE(left)) &&
              EVP_DigestUpdate(ctx, PyBytes_AS_STRING(right), (size_t)PyBytes_GET_SIZE(right)) &&
              EVP_DigestFinal_ex(ctx, digest, NULL))) {
            PyErr_SetString(PyExc_RuntimeError, "node_hashes: SHA-256 failed");
            Py_CLEAR(result);
            goto done;
        }
        PyObject *item = PyBytes_FromStringAndSize((const char *)digest, HASH_SIZE);
        if (item == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, item);
    }
done:
    EVP_MD_CTX_free(ctx);
    Py_DECREF(items);
    return result;
}

/* ---- The writer's side: sealing envelopes ------------------------------------------ */

static PyObject *uuid_type = NULL; /* uuid.UUID */

/* A str of printable ASCII without '"' or '\\': its JSON string is its text in quotes. */
static int
plain_text(PyObject *text, Span *out)
{
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_ASCII(text))
        return 0;
    out->s = PyUnicode_1BYTE_DATA(text);
    out->n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < out->n; i++)
        if (special[out->s[i]])
            return 0;
    return 1;
}

static int
plain_uint53(PyObject *number, long long *out)
{
    return exact_int(number, out) && *out >= 0 && *out <= MAX_SAFE_INTEGER;
}

/* A uuid.UUID (exactly that class) in its canonical text: 36 lowercase characters. */
static int
uuid_text(PyObject *value, unsigned char *out)
{
    unsigned char raw[16];
    PyObject *number;
    int ok;
    if (uuid_type == NULL || (PyObject *)Py_TYPE(value) != uuid_type)
        return 0;
    number = PyObject_GetAttrString(value, "int");
    if (number == NULL) {
        PyErr_Clear();
        return 0;
    }
#if PY_VERSION_HEX >= 0x030D0000
    ok = PyLong_CheckExact(number) &&
         _PyLong_AsByteArray((PyLongObject *)number, raw, 16, 0, 0, 0) == 0;
#else
    ok = PyLong_CheckExact(number) &&
         _PyLong_AsByteArray((PyLongObject *)number, raw, 16, 0, 0) == 0;
#endif
    Py_DECREF(number);
    if (!ok) {
        PyErr_Clear();
        return 0;
    }
    for (int i = 0, o = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = (unsigned char)HEX[raw[i] >> 4];
        out[o++] = (unsigned char)HEX[raw[i] & 15];
    }
    return 1;
}

static unsigned char *
put(unsigned char *out, const char *text, size_t n)
{
    memcpy(out, text, n);
    return out + n;
}

#define PUT(out, text) put((out), (text), sizeof(text) - 1)

static unsigned char *
put_span(unsigned char *out, Span span)
{
    memcpy(out, span.s, (size_t)span.n);
    return out + span.n;
}

static unsigned char *
put_uint(unsigned char *out, long long value)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value > 0);
    while (n > 0)
        *out++ = (unsigned char)digits[--n];
    return out;
}

PyDoc_STRVAR(seal_links_doc,
"seal_links(log, recorded_at, prev, links)\n--\n\n"
"[(canonical bytes, leaf hash), ...] for the envelopes of `links`, a list of\n"
"(seq, aggregate_id, aggregate_version, topic, actor, state) tuples, each chained to\n"
"the one before and the first to `prev` (32 bytes, or None at genesis), when every\n"
"member is plain: integers in 0..2**53-1, strings of printable ASCII without '\"' or\n"
"'\\\\', an aggregate id such a string or a uuid.UUID, the state bytes. Else None, and\n"
"the Python path seals them (crm_ledger.ledger.envelope.seal_links).");

static PyObject *
seal_links(PyObject *module, PyObject *args)
{
    PyObject *log, *recorded_at, *prev, *links, *result = NULL;
    Span log_text, time_text;
    unsigned char prev_hex[2 * HASH_SIZE];
    EVP_MD_CTX *ctx = NULL;
    int fallback = 0;
    if (!PyArg_ParseTuple(args, "OOOO!:seal_links", &log, &recorded_at, &prev, &PyList_Type,
                          &links))
        return NULL;
    if (!plain_text(log, &log_text) || !plain_text(recorded_at, &time_text))
        Py_RETURN_NONE;
    if (prev == Py_None)
        memset(prev_hex, '0', sizeof prev_hex);
    else if (PyBytes_CheckExact(prev) && PyBytes_GET_SIZE(prev) == HASH_SIZE)
        to_hex((const unsigned char *)PyBytes_AS_STRING(prev), prev_hex);
    else
        Py_RETURN_NONE;
    Py_ssize_t count = PyList_GET_SIZE(links);
    ctx = EVP_MD_CTX_new();
    result = PyList_New(count);
    if (ctx == NULL || result == NULL) {
        if (ctx == NULL)
            PyErr_NoMemory();
        Py_CLEAR(result);
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *link = PyList_GET_ITEM(links, i), *id, *canonical, *leaf, *pair;
        long long seq, version;
        Span topic, actor, state, id_text;
        int id_is_text;
        unsigned char digest[HASH_SIZE], leaf_digest[HASH_SIZE], *buffer, *out;
        /* a member not plain: the list built so far is dropped, nothing else was made */
        if (!PyTuple_CheckExact(link) || PyTuple_GET_SIZE(link) != 6 ||
            !plain_uint53(PyTuple_GET_ITEM(link, 0), &seq) ||
            !plain_uint53(PyTuple_GET_ITEM(link, 2), &version) ||
            !plain_text(PyTuple_GET_ITEM(link, 3), &topic) ||
            !plain_text(PyTuple_GET_ITEM(link, 4), &actor) ||
            !exact_bytes(PyTuple_GET_ITEM(link, 5), &state)) {
            fallback = 1;
            goto done;
        }
        id = PyTuple_GET_ITEM(link, 1); /* plain text, or else a UUID (uuid_text checks) */
        id_is_text = plain_text(id, &id_text);
        /* member names and punctuation (129 bytes), two integers of at most 16 digits,
         * two hashes in hex (128): 289 bytes besides the texts (a UUID's text is 36) */
        buffer = work_buffer(384 + (size_t)(log_text.n + time_text.n + topic.n + actor.n) +
                             (id_is_text ? (size_t)id_text.n : 36));
        if (buffer == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        out = buffer;
        if (!sha256(ctx, state.s, (size_t)state.n, digest)) {
            PyErr_SetString(PyExc_RuntimeError, "seal_links: SHA-256 failed");
            goto done;
        }
        out = PUT(out, "{\"actor\":\"");
        out = put_span(out, actor);
        out = PUT(out, "\",\"aggregate_id\":\"");
        if (id_is_text) {
            out = put_span(out, id_text);
        } else {
            if (!uuid_text(id, out)) { /* not a UUID, or one whose int is unreadable */
                fallback = 1;
                goto done;
            }
            out += 36;
        }
        out = PUT(out, "\",\"aggregate_version\":");
        out = put_uint(out, version);
        out = PUT(out, ",\"log\":\"");
        out = put_span(out, log_text);
        out = PUT(out, "\",\"prev\":\"");
        out = put(out, (const char *)prev_hex, sizeof prev_hex);
        out = PUT(out, "\",\"recorded_at\":\"");
        out = put_span(out, time_text);
        out = PUT(out, "\",\"seq\":");
        out = put_uint(out, seq);
        out = PUT(out, ",\"state_sha256\":\"");
        to_hex(digest, out);
        out += 2 * HASH_SIZE;
        out = PUT(out, "\",\"topic\":\"");
        out = put_span(out, topic);
        out = PUT(out, "\",\"v\":1}");
        if (!leaf_sha256(ctx, buffer, out - buffer, leaf_digest)) {
            PyErr_SetString(PyExc_RuntimeError, "seal_links: SHA-256 failed");
            goto done;
        }
        canonical = PyBytes_FromStringAndSize((const char *)buffer, out - buffer);
        leaf = PyBytes_FromStringAndSize((const char *)leaf_digest, HASH_SIZE);
        pair = (canonical && leaf) ? PyTuple_Pack(2, canonical, leaf) : NULL;
        Py_XDECREF(canonical);
        Py_XDECREF(leaf);
        if (pair == NULL)
            goto done;
        PyList_SET_ITEM(result, i, pair);
        to_hex(leaf_digest, prev_hex);
    }
    EVP_MD_CTX_free(ctx);
    return result;
done: /* declined (fallback) or failed (an exception is set) */
    EVP_MD_CTX_free(ctx);
    Py_XDECREF(result);
    if (fallback)
        Py_RETURN_NONE;
    return NULL;
}

static PyMethodDef methods[] = {
    {"check_lines", check_lines, METH_VARARGS, check_lines_doc},
    {"check_columns", check_columns, METH_VARARGS, check_columns_doc},
    {"node_hashes", node_hashes, METH_O, node_hashes_doc},
    {"seal_links", seal_links, METH_VARARGS, seal_links_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_native",
    "The ledger's bulk work in C (see _native.c); optional: the Python path does all.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    for (int ch = 0; ch < 256; ch++)
        special[ch] = ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\';
    if (sha256_md == NULL) {
        sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (sha256_md == NULL) {
            PyErr_SetString(PyExc_ImportError, "OpenSSL has no SHA-256");
            return NULL;
        }
    }
    if (uuid_type == NULL) { /* without it, aggregate ids must come as str */
        PyObject *uuid_module = PyImport_ImportModule("uuid");
        if (uuid_module != NULL) {
            uuid_type = PyObject_GetAttrString(uuid_module, "UUID");
            Py_DECREF(uuid_module);
        }
        if (uuid_type == NULL || !PyType_Check(uuid_type)) {
            Py_CLEAR(uuid_type);
            PyErr_Clear();
        }
    }
    PyObject *module = PyModule_Create(&module_def);
    /* the interface's version: crm_ledger.ledger.native ignores a module built from
     * another version of this file (an install not rebuilt since) */
    if (module != NULL && PyModule_AddIntConstant(module, "INTERFACE", 3) < 0)
        Py_CLEAR(module);
    return module;
}
