#ifndef CINDER_YJS_RENDER_H
#define CINDER_YJS_RENDER_H
/* What the two renderers share: json.c (document -> JSON text) and xml_string.c (XML toString()
 * and JavaScript String() of values, which JSON output embeds as strings). Both recurse through
 * nested types; `depth` counts the nested types being rendered, and parts nested deeper than
 * YJS_RENDER_MAX_DEPTH (only a hostile document gets there) render as null / nothing instead of
 * exhausting the C stack. The depth travels as a parameter so that rendering keeps no state
 * outside the call. */
#include "yjs/internal.h"

#define YJS_RENDER_MAX_DEPTH 2000

/* How a type renders: a root's kind is inferred (json.c), a nested type's follows its ref. */
enum { YK_NONE, YK_MAP, YK_TEXT, YK_XML, YK_ARRAY };
int yjs_kind_of_ref(uint8_t ref);

/* JavaScript's Number.prototype.toString for a finite v ("null" for NaN and infinities, as
 * JSON.stringify writes them). */
void yjs_js_number(ybuf *b, double v);
/* The integer Any kinds, written the same in JSON and in String(): the payload of a varInt and
 * of a BigInt64 (after the tag). */
void yjs_any_write_int(ybuf *b, ydec *d);
void yjs_any_write_bigint(ybuf *b, ydec *d);

/* Y.Text.toString(): the live strings, formatting and embeds dropped. */
void yjs_text_plain(ybuf *b, const ytype *t);
/* The keys of t that have a live value, in byte order; *n of them. free() the array. */
const ykey **yjs_sorted_keys(const ytype *t, size_t *n);

/* xml_string.c */
/* toString() of an XML type: YXmlElement, YXmlText; any other renders its children, as a
 * YXmlFragment does. */
void yjs_xml_string(ybuf *b, const ytype *t, int depth);
/* The children of an XML fragment concatenated (YXmlFragment.toString()). */
void yjs_xml_children(ybuf *b, const ytype *t, int depth);

#endif
