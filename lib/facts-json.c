/* SPDX-License-Identifier: MIT */
/*
 * autoprocs_facts_to_json(): the JSON object of docs/schema/detect.json, every field present, null
 * where unknown.  Numbers are exact decimals of integer facts (no float formatting, no locale):
 * cpus = quota/period to 6 places, seconds = µs/10^6, PSI averages with the kernel's 2 places.
 */
#include <errno.h>

#include "lib/facts.h"
#include "lib/util/json.h"

/* ,"KIND_NAME":value (a fixed-point decimal of @value / @scale), or null without a line. */
static void psi_field(ApBuf *b, const char *kind, const char *name, const ApPsiLine *l,
                      uint64_t value, uint64_t scale, unsigned digits)
{
        ap_buf_printf(b, ",\"%s_%s\":", kind, name);
        if (l)
                ap_buf_decimal(b, value, scale, digits);
        else
                ap_buf_puts(b, "null");
}

static void psi_fields(ApBuf *b, const char *kind, const ApPsiLine *l)
{
        psi_field(b, kind, "avg10", l, l ? l->avg10 : 0, 100, 2);
        psi_field(b, kind, "avg60", l, l ? l->avg60 : 0, 100, 2);
        psi_field(b, kind, "avg300", l, l ? l->avg300 : 0, 100, 2);
        psi_field(b, kind, "total_seconds", l, l ? l->total_usec : 0, 1000000, 6);
}

/* ,"NAME":[...] of @n strings. */
static void string_array(ApBuf *b, const char *name, char *const *v, size_t n)
{
        ap_buf_printf(b, ",\"%s\":[", name);
        for (size_t i = 0; i < n; i++) {
                if (i)
                        ap_buf_puts(b, ",");
                ap_buf_json_string_or_null(b, v[i]);
        }
        ap_buf_puts(b, "]");
}

AUTOPROCS_API int autoprocs_facts_to_json(const autoprocs_facts *f, char **ret_json)
{
        ApBuf b = AP_BUF_NULL;

        if (!f || !ret_json)
                return -EINVAL;
        ap_buf_printf(&b, "{\"cgroup_version\":%d,\"cgroup_path\":", f->cgroup_version);
        ap_buf_json_string_or_null(&b, f->cgroup_path);
        ap_buf_puts(&b, ",\"limit\":");
        if (f->has_limit) {
                ap_buf_printf(&b, "{\"quota_us\":%llu,\"period_us\":%llu,\"cpus\":",
                              (unsigned long long)f->quota_us, (unsigned long long)f->period_us);
                ap_buf_decimal(&b, f->quota_us, f->period_us, 6);
                ap_buf_puts(&b, ",\"cgroup\":");
                ap_buf_json_string_or_null(&b, f->limit_cgroup);
                ap_buf_puts(&b, "}");
        } else
                ap_buf_puts(&b, "null");
        ap_buf_puts(&b, ",\"limit_file\":");
        ap_buf_json_string_or_null(&b, f->has_limit ? f->limit_file : NULL);
        ap_buf_printf(&b, ",\"affinity_cpus\":%u,\"affinity_source\":", f->affinity_cpus);
        ap_buf_json_string_or_null(&b, autoprocs_facts_affinity_source(f));
        ap_buf_printf(&b, ",\"procs\":%u,\"policy\":\"%s\",\"throttling\":", f->procs ? f->procs : 1,
                      autoprocs_policy_to_string(f->policy));
        if (f->has_throttling) {
                ap_buf_printf(&b, "{\"nr_periods\":%llu,\"nr_throttled\":%llu,\"throttled_seconds\":",
                              (unsigned long long)f->throttling.nr_periods,
                              (unsigned long long)f->throttling.nr_throttled);
                ap_buf_decimal(&b, f->throttling.throttled_ns, 1000000000, 6);
                ap_buf_puts(&b, "}");
        } else
                ap_buf_puts(&b, "null");
        ap_buf_puts(&b, ",\"pressure\":");
        if (f->has_pressure) {
                ap_buf_puts(&b, "{");
                /* psi_fields writes a leading comma: start after it. */
                {
                        ApBuf t = AP_BUF_NULL;

                        psi_fields(&t, "some", &f->pressure.some);
                        psi_fields(&t, "full", f->pressure.has_full ? &f->pressure.full : NULL);
                        if (t.failed || !t.s)
                                b.failed = true;
                        else
                                ap_buf_puts(&b, t.s + 1);
                        ap_buf_done(&t);
                }
                ap_buf_puts(&b, "}");
        } else
                ap_buf_puts(&b, "null");
        string_array(&b, "warnings", f->warnings, f->n_warnings);
        string_array(&b, "notes", f->notes, f->n_notes);
        ap_buf_puts(&b, "}");
        return ap_buf_steal(&b, ret_json);
}
