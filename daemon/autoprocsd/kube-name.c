/* SPDX-License-Identifier: MIT */
/*
 * Pod and container names of cgroup directories (see kube-name.h).  Pure.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/autoprocsd/kube-name.h"

#define NAME_MAX_LEN 255

const char *ap_kube_qos_to_string(ApKubeQos q)
{
        switch (q) {
        case AP_KUBE_QOS_GUARANTEED:
                return "guaranteed";
        case AP_KUBE_QOS_BURSTABLE:
                return "burstable";
        case AP_KUBE_QOS_BESTEFFORT:
                return "besteffort";
        case AP_KUBE_QOS_NONE:
                break;
        }
        return "";
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Undo systemd's unit name escapes ("\x2d" for '-') into @out (size > @len).  A malformed escape
 * is kept as written; a NUL from "\x00" ends the name there (no valid name holds one). */
static size_t unescape(const char *s, size_t len, char *out)
{
        size_t k = 0;

        for (size_t i = 0; i < len; i++) {
                if (s[i] == '\\' && i + 3 < len && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 &&
                    hexval(s[i + 3]) >= 0) {
                        out[k++] = (char)(hexval(s[i + 2]) * 16 + hexval(s[i + 3]));
                        i += 3;
                } else {
                        out[k++] = s[i];
                }
        }
        out[k] = '\0';
        return strlen(out);
}

static bool is_container_id(const char *s, size_t len)
{
        if (len != AP_KUBE_ID_LEN)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* A pod UID as written in a cgroup name ('_' or '-' between groups) into @out with '-'. */
static bool pod_uid_parse(const char *s, size_t len, char *out)
{
        if (len == 0 || len > AP_KUBE_UID_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '_' || s[i] == '-')
                        out[i] = '-';
                else if (hexval(s[i]) >= 0)
                        out[i] = s[i];
                else
                        return false;
        }
        out[len] = '\0';
        return out[0] != '-' && out[len - 1] != '-';
}

static bool has_prefix(const char *s, size_t len, const char *prefix, size_t *ret_plen)
{
        size_t n = strlen(prefix);

        if (len < n || memcmp(s, prefix, n) != 0)
                return false;
        *ret_plen = n;
        return true;
}

static bool has_suffix(const char *s, size_t len, const char *suffix)
{
        size_t n = strlen(suffix);

        return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* "<prefix><ID><suffix>" with a container id in the middle. */
static bool wraps_id(const char *s, size_t len, const char *prefix, const char *suffix, char *ret_id)
{
        size_t plen, slen = strlen(suffix);

        if (!has_prefix(s, len, prefix, &plen) || !has_suffix(s, len, suffix) || len < plen + slen ||
            !is_container_id(s + plen, len - plen - slen))
                return false;
        memcpy(ret_id, s + plen, AP_KUBE_ID_LEN);
        ret_id[AP_KUBE_ID_LEN] = '\0';
        return true;
}

void ap_kube_name_parse(const char *raw, size_t raw_len, ApKubeName *ret)
{
        static const struct {
                const char *prefix;
                const char *runtime;
                ApKubeNameKind kind;
        } scopes[] = {
                /* conmon first: "crio-conmon-" also starts with "crio-" */
                { "crio-conmon-", NULL, AP_KUBE_NAME_MONITOR },
                { "libpod-conmon-", NULL, AP_KUBE_NAME_MONITOR },
                { "cri-containerd-", "containerd", AP_KUBE_NAME_CONTAINER },
                { "crio-", "cri-o", AP_KUBE_NAME_CONTAINER },
                { "docker-", "docker", AP_KUBE_NAME_CONTAINER },
                { "libpod-", "podman", AP_KUBE_NAME_CONTAINER },
        };
        static const struct {
                const char *prefix;
                ApKubeQos qos;
        } pod_slices[] = {
                { "kubepods-burstable-pod", AP_KUBE_QOS_BURSTABLE },
                { "kubepods-besteffort-pod", AP_KUBE_QOS_BESTEFFORT },
                { "kubepods-pod", AP_KUBE_QOS_GUARANTEED },
        };
        char name[NAME_MAX_LEN + 1];
        size_t len, plen;

        *ret = (ApKubeName){ 0 };
        if (raw_len == 0 || raw_len > NAME_MAX_LEN || memchr(raw, '/', raw_len))
                return;
        len = unescape(raw, raw_len, name);

        if (strcmp(name, "kubepods") == 0 || strcmp(name, "kubepods.slice") == 0) {
                ret->kind = AP_KUBE_NAME_KUBEPODS;
                return;
        }
        if (strcmp(name, "burstable") == 0 || strcmp(name, "kubepods-burstable.slice") == 0) {
                ret->kind = AP_KUBE_NAME_QOS;
                ret->qos = AP_KUBE_QOS_BURSTABLE;
                return;
        }
        if (strcmp(name, "besteffort") == 0 || strcmp(name, "kubepods-besteffort.slice") == 0) {
                ret->kind = AP_KUBE_NAME_QOS;
                ret->qos = AP_KUBE_QOS_BESTEFFORT;
                return;
        }
        for (size_t i = 0; i < sizeof(pod_slices) / sizeof(pod_slices[0]); i++) {
                if (has_prefix(name, len, pod_slices[i].prefix, &plen) && has_suffix(name, len, ".slice")) {
                        if (pod_uid_parse(name + plen, len - plen - 6, ret->pod_uid)) {
                                ret->kind = AP_KUBE_NAME_POD;
                                ret->qos = pod_slices[i].qos;
                        }
                        return;
                }
        }
        if (has_prefix(name, len, "pod", &plen)) {
                if (pod_uid_parse(name + plen, len - plen, ret->pod_uid))
                        ret->kind = AP_KUBE_NAME_POD;
                return;
        }
        for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
                if (wraps_id(name, len, scopes[i].prefix, ".scope", ret->container_id)) {
                        ret->kind = scopes[i].kind;
                        ret->runtime = scopes[i].runtime;
                        return;
                }
        }
        if (is_container_id(name, len)) {
                memcpy(ret->container_id, name, len + 1);
                ret->kind = AP_KUBE_NAME_CONTAINER;
        }
}

void ap_kube_path_parse(const char *path, ApKubePath *ret)
{
        ApKubeNameKind prev = AP_KUBE_NAME_OTHER;
        bool below_pod = false;
        const char *p = path;

        *ret = (ApKubePath){ 0 };
        while (*p) {
                size_t len;
                ApKubeName n;
                bool last;

                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                len = strcspn(p, "/");
                last = p[len + strspn(p + len, "/")] == '\0';
                ap_kube_name_parse(p, len, &n);
                ret->is_pod = false;
                switch (n.kind) {
                case AP_KUBE_NAME_KUBEPODS:
                        if (!ret->in_kubepods) {
                                ret->in_kubepods = true;
                                ret->qos = AP_KUBE_QOS_NONE;
                        }
                        break;
                case AP_KUBE_NAME_QOS:
                        if (ret->in_kubepods && !below_pod)
                                ret->qos = n.qos;
                        break;
                case AP_KUBE_NAME_POD:
                        if (!ret->in_kubepods || below_pod)
                                break;
                        below_pod = true;
                        ret->is_pod = last;
                        memcpy(ret->pod_uid, n.pod_uid, sizeof(ret->pod_uid));
                        /* systemd: the slice name says it; cgroupfs: right below kubepods is
                         * Guaranteed, below a QoS directory that class. */
                        if (n.qos != AP_KUBE_QOS_NONE)
                                ret->qos = n.qos;
                        else if (prev == AP_KUBE_NAME_KUBEPODS)
                                ret->qos = AP_KUBE_QOS_GUARANTEED;
                        break;
                case AP_KUBE_NAME_CONTAINER:
                        if (!last)
                                return; /* below a container: nothing of ours */
                        ret->is_container = true;
                        memcpy(ret->container_id, n.container_id, sizeof(ret->container_id));
                        ret->runtime = n.runtime;
                        if (!below_pod) {
                                /* docker or podman on their own, not a pod's */
                                ret->qos = AP_KUBE_QOS_NONE;
                        }
                        return;
                case AP_KUBE_NAME_MONITOR:
                case AP_KUBE_NAME_OTHER:
                        break;
                }
                prev = n.kind;
                p += len;
        }
        if (!below_pod)
                ret->qos = AP_KUBE_QOS_NONE;
}

/* Split @s at its '_' into exactly three non-empty fields. */
static int split3(const char *s, size_t len, char *a, char *b, char *c, size_t size)
{
        const char *u1 = memchr(s, '_', len), *u2;
        size_t la, lb, lc;

        if (!u1)
                return -EINVAL;
        u2 = memchr(u1 + 1, '_', len - (size_t)(u1 + 1 - s));
        if (!u2 || memchr(u2 + 1, '_', len - (size_t)(u2 + 1 - s)))
                return -EINVAL;
        la = (size_t)(u1 - s);
        lb = (size_t)(u2 - u1 - 1);
        lc = len - (size_t)(u2 + 1 - s);
        if (la == 0 || lb == 0 || lc == 0 || la >= size || lb >= size || lc >= size)
                return -EINVAL;
        memcpy(a, s, la);
        a[la] = '\0';
        memcpy(b, u1 + 1, lb);
        b[lb] = '\0';
        memcpy(c, u2 + 1, lc);
        c[lc] = '\0';
        return 0;
}

int ap_kube_pod_log_dir_parse(const char *name, char *ns, char *pod, char *uid, size_t size)
{
        char u[AP_KUBE_UID_MAX + 1];
        int r;

        r = split3(name, strlen(name), ns, pod, uid, size);
        if (r < 0)
                return r;
        if (!pod_uid_parse(uid, strlen(uid), u))
                return -EINVAL;
        return 0;
}

int ap_kube_container_log_parse(const char *name, char *pod, char *ns, char *container, char *id,
                                size_t size)
{
        size_t len = strlen(name);

        /* ..._<container>-<64 hex>.log */
        if (len < AP_KUBE_ID_LEN + 6 || !has_suffix(name, len, ".log") || size <= AP_KUBE_ID_LEN)
                return -EINVAL;
        len -= 4;
        if (!is_container_id(name + len - AP_KUBE_ID_LEN, AP_KUBE_ID_LEN) ||
            name[len - AP_KUBE_ID_LEN - 1] != '-')
                return -EINVAL;
        memcpy(id, name + len - AP_KUBE_ID_LEN, AP_KUBE_ID_LEN);
        id[AP_KUBE_ID_LEN] = '\0';
        return split3(name, len - AP_KUBE_ID_LEN - 1, pod, ns, container, size);
}
