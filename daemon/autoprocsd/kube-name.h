/* SPDX-License-Identifier: MIT */
/*
 * What a cgroup directory's name says about pods and containers: pure string parsing, no I/O.
 *
 * Layouts recognised (the kubelet's two cgroup drivers, container runtimes on their own):
 *   systemd driver   kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<UID>.slice/
 *                    cri-containerd-<ID>.scope | crio-<ID>.scope | docker-<ID>.scope
 *                    (Guaranteed pods directly below: kubepods.slice/kubepods-pod<UID>.slice/...;
 *                    the UID's '-' written '_'; systemd's "\xNN" escapes undone)
 *   cgroupfs driver  kubepods/burstable/pod<UID>/<ID>  (Guaranteed: kubepods/pod<UID>/<ID>)
 *   docker           docker/<ID>, system.slice/docker-<ID>.scope
 *   podman           libpod-<ID>.scope (machine.slice or user slices), libpod-conmon-<ID>.scope
 *                    and crio-conmon-<ID>.scope are the runtime's monitor, not a container
 * <ID> is the container id, 64 lowercase hex digits.  <UID> is the pod's metadata.uid: a UUID
 * ("-" separated) or, for static pods, a 32-hex hash.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define AP_KUBE_UID_MAX 36            /* 8-4-4-4-12 */
#define AP_KUBE_ID_LEN 64
#define AP_KUBE_SHORT_ID_LEN 12       /* what `docker ps` / `crictl ps` print (13 for crictl) */

typedef enum ApKubeQos {
        AP_KUBE_QOS_NONE = 0,         /* not a pod's cgroup, or not known yet */
        AP_KUBE_QOS_GUARANTEED,
        AP_KUBE_QOS_BURSTABLE,
        AP_KUBE_QOS_BESTEFFORT,
} ApKubeQos;

/* "guaranteed", "burstable", "besteffort"; "" for NONE. */
const char *ap_kube_qos_to_string(ApKubeQos q);

typedef enum ApKubeNameKind {
        AP_KUBE_NAME_OTHER = 0,       /* nothing we know */
        AP_KUBE_NAME_KUBEPODS,        /* "kubepods", "kubepods.slice" */
        AP_KUBE_NAME_QOS,             /* "burstable", "kubepods-besteffort.slice", ... */
        AP_KUBE_NAME_POD,             /* "pod<UID>", "kubepods-burstable-pod<UID>.slice" */
        AP_KUBE_NAME_CONTAINER,       /* a container of a runtime */
        AP_KUBE_NAME_MONITOR,         /* conmon of podman or CRI-O: not a container */
} ApKubeNameKind;

/* One directory name. */
typedef struct ApKubeName {
        ApKubeNameKind kind;
        ApKubeQos qos;                /* QOS, and POD of the systemd driver ("kubepods-pod..." = guaranteed
                                       * only when the parent says so: see ap_kube_path_parse) */
        char pod_uid[AP_KUBE_UID_MAX + 1];          /* POD, with '-' */
        char container_id[AP_KUBE_ID_LEN + 1];     /* CONTAINER, MONITOR */
        const char *runtime;          /* CONTAINER: "containerd", "cri-o", "docker", "podman", or NULL
                                       * (bare id: cgroupfs driver or docker's own cgroupfs layout) */
} ApKubeName;

/* Parse one directory name (no '/').  Always fills @ret (kind OTHER when unknown). */
void ap_kube_name_parse(const char *name, size_t len, ApKubeName *ret);

/* A whole path below a hierarchy root, e.g. "/kubepods.slice/kubepods-pod1.slice/cri-...scope". */
typedef struct ApKubePath {
        bool in_kubepods;             /* below a kubepods directory */
        bool is_pod;                  /* the last component is a pod */
        bool is_container;            /* the last component is a container */
        ApKubeQos qos;                /* for pods and their containers; guaranteed = pod right below kubepods */
        char pod_uid[AP_KUBE_UID_MAX + 1];          /* "" when not below a pod */
        char container_id[AP_KUBE_ID_LEN + 1];     /* "" when not a container */
        const char *runtime;
} ApKubePath;

/*
 * Parse @path (components separated by '/', empty ones ignored).  A container is recognised as a
 * container id name anywhere (docker, podman) or, below a pod, as a bare id; nothing is looked up
 * below a container.  Always fills @ret.
 */
void ap_kube_path_parse(const char *path, ApKubePath *ret);

/* Pod directory names of the kubelet's log tree: "<namespace>_<pod>_<uid>".  Fills the three
 * NUL-terminated strings (each buffer @size bytes).  @retval 0  @retval -EINVAL not that shape */
int ap_kube_pod_log_dir_parse(const char *name, char *ns, char *pod, char *uid, size_t size);
/* Container log link names: "<pod>_<namespace>_<container>-<64 hex id>.log".
 * @retval 0  @retval -EINVAL */
int ap_kube_container_log_parse(const char *name, char *pod, char *ns, char *container,
                                char *id, size_t size);
