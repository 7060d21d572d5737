/* Reading what AWS endpoints answer: one way to take a string out of a JSON
 * object, one way to take an element's text out of an XML answer.
 *
 * The answers read here (Step Functions errors, STS, the container
 * credentials endpoint, IMDS, task metadata) are small and flat; these two
 * readers are all the structure the agent needs from them.  Every caller
 * uses these, so an empty string, a missing key and a key of another type
 * mean the same thing everywhere. */
#ifndef SFN_ANSWER_H
#define SFN_ANSWER_H

#include "base/buf.h"

#include <cjson/cJSON.h>

#include <stdbool.h>

/* The string value of obj[key], or NULL when obj is not an object, the key is
 * missing, its value is not a string, or the string is empty. */
const char *json_str(const cJSON *obj, const char *key);

/* The first of keys (a NULL-terminated list) that json_str finds, or NULL. */
const char *json_str_any(const cJSON *obj, const char *const *keys);

/* The text of the first <tag>...</tag> in body into out (reset first), with
 * the five XML entities and numeric references to ASCII decoded; other
 * references are kept as written.  body need not end in a NUL.  False (out
 * left empty) when the element is missing or not closed.  Tags with
 * attributes or namespaces are not matched: AWS's query-protocol answers
 * use neither on the elements the agent reads. */
bool xml_text(struct span body, const char *tag, struct buf *out);

#endif
