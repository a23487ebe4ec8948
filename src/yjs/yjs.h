#ifndef CINDER_YJS_H
#define CINDER_YJS_H
/* cinder's Yjs engine: a CRDT document compatible with the `yjs` npm package 13.6.x, update
 * format v1. This header is the whole public contract; everything else in src/yjs is private.
 *
 * Objects
 *   yjs_doc   a document (long-lived): a struct store, the types built from it, pending structs
 *             and pending deletions that wait for missing dependencies.
 *
 * Buffers
 *   Every function that produces bytes returns a buffer allocated by the library in *out and its
 *   length in *out_len. The caller owns it and releases it with yjs_free(). Input buffers are only
 *   read during the call; the library keeps no pointer into them.
 *
 * Errors
 *   Functions return 0 (or a non-negative count) on success and a negative YJS_E* code on
 *   failure. yjs_strerror() names a code. Where a yjs_error is passed (it may be NULL), it receives
 *   the code, the input offset where decoding stopped and a one-line message.
 *
 * Server use
 *   doc = yjs_doc_new(0);
 *   yjs_doc_apply_update_v1_event(doc, msg, len, &ev, &ev_len, &err)   a client's update:
 *       err.code < 0 -> reject (doc unchanged); ev != NULL -> broadcast ev (what yjs's 'update'
 *       event carries); ev == NULL -> nothing new (duplicate, or only pending)
 *   yjs_doc_encode_state_vector(doc, &sv, &n)                            sync step 1
 *   yjs_doc_encode_state_as_update_v1(doc, peer_sv, n, &up, &m, &err)   sync step 2 reply
 *   yjs_free(buffer); yjs_doc_free(doc);
 *   A document is not thread-safe; use it from one thread at a time.
 *
 * Compatibility notes (deliberate choices)
 *   - Any values, JSON texts (ContentJSON, ContentEmbed, ContentFormat) are kept as the raw bytes
 *     they arrived in and re-emitted verbatim. For input produced by lib0/yjs this is byte-exact;
 *     yjs would canonicalise non-canonical input (float64 1.0 -> int, key order, JSON whitespace).
 *     ContentDoc options ARE normalised the way yjs does (gc:false, autoLoad:true, meta).
 *   - Inputs that yjs would accept but that no yjs writer produces are rejected as malformed:
 *     a client id appearing in two groups of one update, zero-length structs, a reference to the
 *     own client's clock at or after the struct itself, Skip structs with high info bits, Any
 *     or JSON nested deeper than 256 levels, clocks beyond 2^53-1.
 *   - Trailing bytes after the delete set are ignored, as yjs does.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- errors ------------------------------------------------------------------------------- */
#define YJS_EINVAL   (-1)  /* bad argument */
#define YJS_ENOMEM   (-2)  /* allocation failed */
#define YJS_EEOF     (-3)  /* unexpected end of input */
#define YJS_ERANGE   (-4)  /* integer out of range (varUint > 2^53-1, clock overflow) */
#define YJS_EUTF8    (-5)  /* invalid UTF-8 in a string */
#define YJS_EANY     (-6)  /* invalid lib0 Any value (unknown tag, too deep) */
#define YJS_EJSON    (-7)  /* invalid JSON text in ContentJSON / ContentEmbed / ContentFormat */
#define YJS_ECONTENT (-8)  /* unknown content ref (11..31) or bad struct info byte */
#define YJS_ETYPEREF (-9)  /* unknown type ref (>= 7) */
#define YJS_ESTRUCT  (-10) /* inconsistent structs (zero length, repeated client, bad reference) */

const char *yjs_strerror(int code);

typedef struct yjs_error {
  int code;        /* YJS_E*, 0 if none */
  size_t offset;   /* byte offset in the input where the problem was found */
  char msg[160];   /* one line, NUL-terminated */
} yjs_error;

/* Release a buffer returned by this library (NULL is fine). */
void yjs_free(void *ptr);

/* --- documents ---------------------------------------------------------------------------- */
typedef struct yjs_doc yjs_doc;

#define YJS_DOC_NO_GC 1u  /* keep deleted content (like new Y.Doc({gc: false})) */

/* Create an empty document. flags: 0 or YJS_DOC_NO_GC. Returns NULL only if out of memory. */
yjs_doc *yjs_doc_new(unsigned flags);
void yjs_doc_free(yjs_doc *doc);

/* Apply one update (format v1), like Y.applyUpdate(doc, update).
 * Atomic: the whole update is decoded and validated before anything is integrated; a malformed
 * update returns a negative code (details in *err) and leaves the document exactly unchanged.
 * Structs and deletions whose dependencies are missing are kept pending and applied as soon as a
 * later update supplies them. *changed (may be NULL) is set to 1 when the document's state
 * changed (new structs integrated or content deleted; this is when yjs emits an 'update' event
 * and what a server should broadcast), 0 for a duplicate or an update that only went pending. */
int yjs_doc_apply_update_v1(yjs_doc *doc, const uint8_t *update, size_t len, int *changed,
                            yjs_error *err);

/* Like yjs_doc_apply_update_v1, and additionally returns in *event / *event_len the update yjs
 * would emit as the doc's 'update' event for this transaction (only what was newly integrated,
 * plus the transaction's deletions), or NULL / 0 when nothing changed. */
int yjs_doc_apply_update_v1_event(yjs_doc *doc, const uint8_t *update, size_t len,
                                  uint8_t **event, size_t *event_len, yjs_error *err);

/* 1 if the document holds pending structs or pending deletions (waiting for missing
 * dependencies), else 0. */
int yjs_doc_has_pending(const yjs_doc *doc);

/* The state vector (Y.encodeStateVector(doc)): client -> next clock, descending client order.
 * Pending structs are not included. */
int yjs_doc_encode_state_vector(const yjs_doc *doc, uint8_t **out, size_t *out_len);

/* Everything a peer with state vector sv is missing (Y.encodeStateAsUpdate(doc, sv)): the sync
 * step-2 reply. sv == NULL (or sv_len == 0) means the empty state vector, i.e. the full state.
 * Pending structs and pending deletions are included, as yjs does. A malformed sv is rejected. */
int yjs_doc_encode_state_as_update_v1(const yjs_doc *doc, const uint8_t *sv, size_t sv_len,
                                      uint8_t **out, size_t *out_len, yjs_error *err);

/* The document's content as JSON text (NUL-terminated, no trailing newline).
 * Convention: one JSON object with one key per root type name, keys in byte order. A root's kind
 * is inferred from its items (deleted ones included, as long as their content is still known):
 *   - items with a map key (parentSub)            -> map:   {"key": value, ...}
 *   - String / Format / Embed content             -> text:  the plain string (Y.Text.toString():
 *                                                    formatting and embeds dropped)
 *   - Y.XmlElement / Y.XmlText children           -> XML fragment: a string, YXmlFragment.toString()
 *   - anything else                               -> array: [value, ...]
 * A root whose kind cannot be inferred (no items, or only garbage-collected ones) is omitted.
 * Values are rendered like JSON.stringify(type.toJSON()) in yjs: nested Y.Map -> object,
 * Y.Array -> array, Y.Text -> string, XML types -> their toString(), Any values as JSON
 * (undefined -> null in arrays, omitted in objects), Uint8Array -> {"0":b0,"1":b1,...},
 * subdocuments -> {}, numbers formatted like JavaScript. Map keys are sorted by byte order. */
int yjs_doc_to_json(const yjs_doc *doc, char **out, size_t *out_len);

/* --- update-level helpers (no document) ----------------------------------------------------- */

/* Y.mergeUpdates(updates): one update equivalent to applying all. Byte-exact with yjs for
 * canonical input (one input is returned unchanged, like yjs). */
int yjs_merge_updates_v1(const uint8_t *const *updates, const size_t *lens, size_t n,
                         uint8_t **out, size_t *out_len, yjs_error *err);

/* Y.diffUpdate(update, sv): the part of update a peer with state vector sv is missing. */
int yjs_diff_update_v1(const uint8_t *update, size_t len, const uint8_t *sv, size_t sv_len,
                       uint8_t **out, size_t *out_len, yjs_error *err);

/* Y.encodeStateVectorFromUpdate(update). */
int yjs_state_vector_from_update_v1(const uint8_t *update, size_t len, uint8_t **out,
                                    size_t *out_len, yjs_error *err);

#ifdef __cplusplus
}
#endif
#endif
