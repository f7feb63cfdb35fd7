/* SPDX-License-Identifier: MIT */
/*
 * daemon/kube-name.c on strings: cgroup directory names and paths of both kubelet drivers, docker
 * and podman, systemd escapes, the kubelet's log tree names.
 */
#include <string.h>

#include "ap-test.h"
#include "daemon/autoprocsd/kube-name.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define UID "4f1b3c2a-1111-2222-3333-444455556666"
#define UID_ "4f1b3c2a_1111_2222_3333_444455556666"

static void name_is(const char *name, ApKubeNameKind kind, ApKubeQos qos, const char *uid,
                    const char *id, const char *runtime)
{
        ApKubeName n;

        ap_kube_name_parse(name, strlen(name), &n);
        ck_assert_msg(n.kind == kind, "%s: kind %d, want %d", name, n.kind, kind);
        ck_assert_msg(n.qos == qos, "%s: qos %d, want %d", name, n.qos, qos);
        ck_assert_str_eq(n.pod_uid, uid);
        ck_assert_str_eq(n.container_id, id);
        if (runtime)
                ck_assert_str_eq(n.runtime, runtime);
        else
                ck_assert_ptr_null(n.runtime);
}

START_TEST(test_names)
{
        name_is("kubepods", AP_KUBE_NAME_KUBEPODS, AP_KUBE_QOS_NONE, "", "", NULL);
        name_is("kubepods.slice", AP_KUBE_NAME_KUBEPODS, AP_KUBE_QOS_NONE, "", "", NULL);
        name_is("burstable", AP_KUBE_NAME_QOS, AP_KUBE_QOS_BURSTABLE, "", "", NULL);
        name_is("kubepods-besteffort.slice", AP_KUBE_NAME_QOS, AP_KUBE_QOS_BESTEFFORT, "", "", NULL);
        name_is("pod" UID, AP_KUBE_NAME_POD, AP_KUBE_QOS_NONE, UID, "", NULL);
        name_is("kubepods-burstable-pod" UID_ ".slice", AP_KUBE_NAME_POD, AP_KUBE_QOS_BURSTABLE, UID, "", NULL);
        name_is("kubepods-besteffort-pod" UID_ ".slice", AP_KUBE_NAME_POD, AP_KUBE_QOS_BESTEFFORT, UID, "", NULL);
        name_is("kubepods-pod" UID_ ".slice", AP_KUBE_NAME_POD, AP_KUBE_QOS_GUARANTEED, UID, "", NULL);
        /* static pods: a 32-hex hash; systemd's \x2d escape of '-' */
        name_is("kubepods-pod0123456789abcdef0123456789abcdef.slice", AP_KUBE_NAME_POD,
                AP_KUBE_QOS_GUARANTEED, "0123456789abcdef0123456789abcdef", "", NULL);
        name_is("kubepods-burstable-pod4f1b3c2a\\x2d1111\\x2d2222_3333_444455556666.slice",
                AP_KUBE_NAME_POD, AP_KUBE_QOS_BURSTABLE, UID, "", NULL);
        name_is("cri-containerd-" ID ".scope", AP_KUBE_NAME_CONTAINER, AP_KUBE_QOS_NONE, "", ID, "containerd");
        name_is("crio-" ID ".scope", AP_KUBE_NAME_CONTAINER, AP_KUBE_QOS_NONE, "", ID, "cri-o");
        name_is("crio-conmon-" ID ".scope", AP_KUBE_NAME_MONITOR, AP_KUBE_QOS_NONE, "", ID, NULL);
        name_is("docker-" ID ".scope", AP_KUBE_NAME_CONTAINER, AP_KUBE_QOS_NONE, "", ID, "docker");
        name_is("libpod-" ID ".scope", AP_KUBE_NAME_CONTAINER, AP_KUBE_QOS_NONE, "", ID, "podman");
        name_is("libpod-conmon-" ID ".scope", AP_KUBE_NAME_MONITOR, AP_KUBE_QOS_NONE, "", ID, NULL);
        name_is(ID, AP_KUBE_NAME_CONTAINER, AP_KUBE_QOS_NONE, "", ID, NULL);
        /* near misses */
        name_is("crio-" ID, AP_KUBE_NAME_OTHER, AP_KUBE_QOS_NONE, "", "", NULL);
        name_is("crio-" ID "0.scope", AP_KUBE_NAME_OTHER, AP_KUBE_QOS_NONE, "", "", NULL);
        name_is("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", AP_KUBE_NAME_OTHER,
                AP_KUBE_QOS_NONE, "", "", NULL);
        name_is("podman.service", AP_KUBE_NAME_OTHER, AP_KUBE_QOS_NONE, "", "", NULL);
        name_is("pod", AP_KUBE_NAME_OTHER, AP_KUBE_QOS_NONE, "", "", NULL);
        name_is("kubepods-burstable-pod.slice", AP_KUBE_NAME_OTHER, AP_KUBE_QOS_NONE, "", "", NULL);
        name_is("kubepods-pod" UID_ ".slicex", AP_KUBE_NAME_OTHER, AP_KUBE_QOS_NONE, "", "", NULL);
        name_is("system.slice", AP_KUBE_NAME_OTHER, AP_KUBE_QOS_NONE, "", "", NULL);
        name_is("", AP_KUBE_NAME_OTHER, AP_KUBE_QOS_NONE, "", "", NULL);
}
END_TEST

static void path_is(const char *path, bool in_kube, bool is_pod, bool is_ctr, ApKubeQos qos,
                    const char *uid, const char *id)
{
        ApKubePath p;

        ap_kube_path_parse(path, &p);
        ck_assert_msg(p.in_kubepods == in_kube, "%s: in_kubepods %d", path, p.in_kubepods);
        ck_assert_msg(p.is_pod == is_pod, "%s: is_pod %d", path, p.is_pod);
        ck_assert_msg(p.is_container == is_ctr, "%s: is_container %d", path, p.is_container);
        ck_assert_msg(p.qos == qos, "%s: qos %d, want %d", path, p.qos, qos);
        ck_assert_str_eq(p.pod_uid, uid);
        ck_assert_str_eq(p.container_id, id);
}

START_TEST(test_paths)
{
        /* systemd driver */
        path_is("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/"
                "cri-containerd-" ID ".scope", true, false, true, AP_KUBE_QOS_BURSTABLE, UID, ID);
        path_is("/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" ID ".scope", true, false, true,
                AP_KUBE_QOS_GUARANTEED, UID, ID);
        path_is("/kubepods.slice/kubepods-pod" UID_ ".slice", true, true, false, AP_KUBE_QOS_GUARANTEED, UID, "");
        path_is("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/docker-" ID
                ".scope/", true, false, true, AP_KUBE_QOS_BESTEFFORT, UID, ID);
        /* cgroupfs driver */
        path_is("/kubepods/burstable/pod" UID "/" ID, true, false, true, AP_KUBE_QOS_BURSTABLE, UID, ID);
        path_is("/kubepods/besteffort/pod" UID "/" ID, true, false, true, AP_KUBE_QOS_BESTEFFORT, UID, ID);
        path_is("/kubepods/pod" UID "/" ID, true, false, true, AP_KUBE_QOS_GUARANTEED, UID, ID);
        path_is("/kubepods/pod" UID, true, true, false, AP_KUBE_QOS_GUARANTEED, UID, "");
        path_is("/kubepods/burstable", true, false, false, AP_KUBE_QOS_NONE, "", "");
        path_is("/kubepods", true, false, false, AP_KUBE_QOS_NONE, "", "");
        /* kubelet --cgroup-root below something else */
        path_is("/kubelet.slice/kubepods/pod" UID "/" ID, true, false, true, AP_KUBE_QOS_GUARANTEED, UID, ID);
        /* docker, podman: containers without a pod */
        path_is("/docker/" ID, false, false, true, AP_KUBE_QOS_NONE, "", ID);
        path_is("/system.slice/docker-" ID ".scope", false, false, true, AP_KUBE_QOS_NONE, "", ID);
        path_is("/machine.slice/libpod-" ID ".scope", false, false, true, AP_KUBE_QOS_NONE, "", ID);
        /* monitors and what is below a container are nobody's */
        path_is("/machine.slice/libpod-conmon-" ID ".scope", false, false, false, AP_KUBE_QOS_NONE, "", "");
        path_is("/machine.slice/libpod-" ID ".scope/container", false, false, false, AP_KUBE_QOS_NONE, "", "");
        path_is("/kubepods/pod" UID "/" ID "/sub", true, false, false, AP_KUBE_QOS_GUARANTEED, UID, "");
        /* pod names outside kubepods are not pods */
        path_is("/pod" UID "/x", false, false, false, AP_KUBE_QOS_NONE, "", "");
        path_is("/", false, false, false, AP_KUBE_QOS_NONE, "", "");
        path_is("", false, false, false, AP_KUBE_QOS_NONE, "", "");
}
END_TEST

START_TEST(test_log_names)
{
        char a[256], b[256], c[256], id[256];

        ck_assert_int_eq(ap_kube_pod_log_dir_parse("kube-system_coredns-5d78c9869d-abcde_" UID, a, b, c,
                                                   sizeof(a)), 0);
        ck_assert_str_eq(a, "kube-system");
        ck_assert_str_eq(b, "coredns-5d78c9869d-abcde");
        ck_assert_str_eq(c, UID);
        ck_assert_int_eq(ap_kube_pod_log_dir_parse("ns_pod", a, b, c, sizeof(a)), -EINVAL);
        ck_assert_int_eq(ap_kube_pod_log_dir_parse("ns_pod_x_" UID, a, b, c, sizeof(a)), -EINVAL);
        ck_assert_int_eq(ap_kube_pod_log_dir_parse("ns_pod_notauid!", a, b, c, sizeof(a)), -EINVAL);
        ck_assert_int_eq(ap_kube_pod_log_dir_parse("_pod_" UID, a, b, c, sizeof(a)), -EINVAL);

        ck_assert_int_eq(ap_kube_container_log_parse("web-0_shop_nginx-" ID ".log", a, b, c, id, sizeof(a)), 0);
        ck_assert_str_eq(a, "web-0");
        ck_assert_str_eq(b, "shop");
        ck_assert_str_eq(c, "nginx");
        ck_assert_str_eq(id, ID);
        ck_assert_int_eq(ap_kube_container_log_parse("web-0_shop_nginx-" ID, a, b, c, id, sizeof(a)), -EINVAL);
        ck_assert_int_eq(ap_kube_container_log_parse("web-0_shop_nginx_" ID ".log", a, b, c, id, sizeof(a)),
                         -EINVAL);
        ck_assert_int_eq(ap_kube_container_log_parse("shop_nginx-" ID ".log", a, b, c, id, sizeof(a)), -EINVAL);
        ck_assert_int_eq(ap_kube_container_log_parse("a_b_c-" ID "0.log", a, b, c, id, sizeof(a)), -EINVAL);
        ck_assert_int_eq(ap_kube_container_log_parse("a_b_c-x.log", a, b, c, id, sizeof(a)), -EINVAL);
}
END_TEST

START_TEST(test_qos_names)
{
        ck_assert_str_eq(ap_kube_qos_to_string(AP_KUBE_QOS_GUARANTEED), "guaranteed");
        ck_assert_str_eq(ap_kube_qos_to_string(AP_KUBE_QOS_BURSTABLE), "burstable");
        ck_assert_str_eq(ap_kube_qos_to_string(AP_KUBE_QOS_BESTEFFORT), "besteffort");
        ck_assert_str_eq(ap_kube_qos_to_string(AP_KUBE_QOS_NONE), "");
}
END_TEST

static Suite *kube_name_suite(void)
{
        Suite *s = suite_create("kube-name");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_names);
        tcase_add_test(tc, test_paths);
        tcase_add_test(tc, test_log_names);
        tcase_add_test(tc, test_qos_names);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(kube_name_suite());
}
