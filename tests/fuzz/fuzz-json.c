/* SPDX-License-Identifier: MIT */
/* Fuzz target: JSON string escaping of any bytes (lib/util/json.c): the output must be a quoted,
 * valid UTF-8 JSON string without raw control bytes. */
#include <string.h>

#include "lib/util/json.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ApBuf b = AP_BUF_NULL;
        const unsigned char *u;
        char *s = NULL;
        size_t len;

        ap_buf_json_string(&b, (const char *)data, size);
        if (ap_buf_steal(&b, &s) < 0)
                return 0;
        len = strlen(s);
        FUZZ_ASSERT(len >= 2 && s[0] == '"' && s[len - 1] == '"');
        u = (const unsigned char *)s;
        for (size_t i = 1; i + 1 < len;) {
                size_t n = u[i] < 0x80 ? 1 : (u[i] & 0xe0) == 0xc0 ? 2 : (u[i] & 0xf0) == 0xe0 ? 3 : (u[i] & 0xf8) == 0xf0 ? 4 : 0;

                FUZZ_ASSERT(n > 0 && i + n < len);
                FUZZ_ASSERT(u[i] >= 0x20 && u[i] != 0x7f);
                for (size_t k = 1; k < n; k++)
                        FUZZ_ASSERT((u[i + k] & 0xc0) == 0x80);
                if (u[i] == '\\') {
                        FUZZ_ASSERT(i + 2 < len); /* an escape never ends the string */
                        i += 2;
                        continue;
                }
                FUZZ_ASSERT(u[i] != '"');
                i += n;
        }
        free(s);
        return 0;
}
