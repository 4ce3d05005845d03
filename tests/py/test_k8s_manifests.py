"""deploy/k8s, checked offline: every kustomization renders with the kubectl
that scripts/deps.sh installs (`kubectl kustomize`), every rendered object
validates against the Kubernetes JSON schemas bundled by the
kubernetes-validate package (strict: unknown fields are errors), and the
deployment policy of deploy/k8s/README.md holds: probes, requests and
limits, non-root, read-only root filesystem, capabilities, GPU requests only
on the evaluator with the vendor key of the overlay, no secret values other
than the marked placeholders, and every name one object uses of another
resolves. No cluster and no network are needed.

GEAK_KUBECTL picks the kubectl binary (default: the one on PATH)."""
import base64
import functools
import os
import re
import shutil
import subprocess

import pytest
import yaml

import kubernetes_validate  # from PyPI (schemas bundled), installed by scripts/deps.sh

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(ROOT, "deploy", "k8s")
# validated against the oldest and the newest schemas the package ships
K8S_VERSIONS = [kubernetes_validate.utils.all_versions()[0],
                kubernetes_validate.utils.latest_version()]
K8S_VERSION = "1.30"            # for the negative control
PLACEHOLDER = "GEAK-PLACEHOLDER"
METRICS_PORT = 9100

TREES = {
    "base": "base",
    "nvidia": "overlays/nvidia",
    "amd": "overlays/amd",
    "secrets": "secrets",
    "jobs": "jobs",
    "queue-depth": "examples/queue-depth",
}
DEPLOYABLE = ["base", "nvidia", "amd", "queue-depth"]
GPU_KEYS = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}
LLM_ROLES = ["generator", "reflector", "optimizer"]
DAEMONS = ["geak-broker"] + ["geak-%s" % r for r in LLM_ROLES] + ["geak-evaluator"]
WORKLOADS = ("Deployment", "StatefulSet", "Job", "DaemonSet")
SECRETISH = re.compile(r"(KEY|PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL)", re.I)


def kubectl():
    path = os.environ.get("GEAK_KUBECTL") or shutil.which("kubectl")
    assert path, "no kubectl on PATH: run `make deps` (Debian 12: kubernetes-client)"
    return path


@functools.lru_cache(maxsize=None)
def render(tree):
    p = subprocess.run([kubectl(), "kustomize", os.path.join(K8S, TREES[tree])],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0, "kubectl kustomize %s failed:\n%s" % (tree, p.stderr)
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    assert docs, "%s rendered nothing" % tree
    return docs


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def find(docs, kind, name):
    hits = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, "%s/%s: %d objects" % (kind, name, len(hits))
    return hits[0]


def pod_specs(docs):
    """(workload, pod template) of every workload object."""
    for d in docs:
        if d["kind"] in WORKLOADS:
            yield d, d["spec"]["template"]


def containers(pod_template, init=True):
    spec = pod_template["spec"]
    return spec["containers"] + (spec.get("initContainers", []) if init else [])


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def workload(docs, name):
    hits = [d for d in docs if d["kind"] in WORKLOADS and d["metadata"]["name"] == name]
    assert len(hits) == 1, name
    return hits[0]


def main_container(docs, name):
    return workload(docs, name)["spec"]["template"]["spec"]["containers"][0]


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------- schemas

@pytest.mark.parametrize("tree", sorted(TREES))
def test_renders_and_validates_strictly(tree):
    docs = render(tree)
    seen = set()
    for d in docs:
        key = (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
        assert key not in seen, "duplicate object %s" % (key,)
        seen.add(key)
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == "geak", key
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail("%s/%s is invalid for Kubernetes %s at %s: %s" % (
                    d["kind"], d["metadata"]["name"], version,
                    ".".join(str(p) for p in e.path), e.message))
            except kubernetes_validate.SchemaNotFoundError as e:
                pytest.fail(e.message)


def test_validator_rejects_a_broken_object():
    """The validation above is real: a typo and a wrong type are caught."""
    d = find(render("base"), "Deployment", "geak-broker")
    bad = yaml.safe_load(yaml.safe_dump(d))
    bad["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    bad = yaml.safe_load(yaml.safe_dump(d))
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_every_kind_is_there():
    docs = render("nvidia")
    kinds = {d["kind"] for d in docs}
    for kind in ("Namespace", "ServiceAccount", "ConfigMap", "Service", "StatefulSet",
                 "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                 "NetworkPolicy"):
        assert kind in kinds, kind
    for name in DAEMONS:
        workload(docs, name)
    for role in LLM_ROLES:
        hpa = find(docs, "HorizontalPodAutoscaler", "geak-" + role)
        assert hpa["apiVersion"] == "autoscaling/v2"
        cpu = [m for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
        assert cpu and cpu[0]["resource"]["name"] == "cpu"
    assert by_kind(render("jobs"), "Job")
    assert not by_kind(docs, "Secret"), "Secrets belong to deploy/k8s/secrets only"


# ----------------------------------------------------------------- policy

@pytest.mark.parametrize("tree", DEPLOYABLE + ["jobs"])
def test_pod_and_container_policy(tree):
    for wl, tpl in pod_specs(render(tree)):
        name = wl["metadata"]["name"]
        spec = tpl["spec"]
        psc = spec.get("securityContext", {})
        assert spec.get("serviceAccountName") == "geak", name
        assert spec.get("automountServiceAccountToken") is False, name
        assert psc.get("runAsNonRoot") is True, name
        assert psc.get("runAsUser", 0) > 0, name
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for claim in wl["spec"].get("volumeClaimTemplates", []):
            volumes[claim["metadata"]["name"]] = {"persistentVolumeClaim": claim}
        for c in containers(tpl):
            where = "%s/%s" % (name, c["name"])
            image = c["image"]
            assert ":" in image and not image.endswith(":latest"), where
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(part, {})), "%s %s" % (where, part)
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, where
            assert sc.get("privileged") in (None, False), where
            caps = sc.get("capabilities", {})
            assert caps.get("drop") == ["ALL"], where
            # the one documented exception: the evaluator's sandbox needs
            # CAP_SYS_ADMIN in the bounding set (README.md "Privileges")
            allowed = ["SYS_ADMIN"] if name == "geak-evaluator" else []
            assert caps.get("add", []) == allowed, where
            for m in c.get("volumeMounts", []):
                assert m["name"] in volumes, "%s mounts unknown volume %s" % (where, m["name"])
        for c in containers(tpl, init=False):
            where = "%s/%s" % (name, c["name"])
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], "%s: no emptyDir /tmp" % where
            if wl["kind"] == "Job":
                continue     # the geak run CLI serves no HTTP: README.md says why
            assert "livenessProbe" in c and "readinessProbe" in c, where


@pytest.mark.parametrize("tree", DEPLOYABLE)
def test_daemons_probe_and_export_metrics_over_http(tree):
    docs = render(tree)
    config = find(docs, "ConfigMap", "geak-config")["data"]
    assert config["GEAK_METRICS_BIND"].endswith(":%d" % METRICS_PORT)
    for name in DAEMONS:
        tpl = workload(docs, name)["spec"]["template"]
        ann = tpl["metadata"].get("annotations", {})
        assert ann.get("prometheus.io/scrape") == "true", name
        assert ann.get("prometheus.io/port") == str(METRICS_PORT), name
        assert ann.get("prometheus.io/path") == "/metrics", name
        c = tpl["spec"]["containers"][0]
        assert any(e.get("configMapRef", {}).get("name") == "geak-config"
                   for e in c.get("envFrom", [])), name
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports.get("metrics") == METRICS_PORT, name
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}, name
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}, name
    redis = main_container(docs, "geak-redis")
    assert "tcpSocket" in redis["livenessProbe"] or "exec" in redis["livenessProbe"]
    assert "exec" in redis["readinessProbe"]


@pytest.mark.parametrize("tree", DEPLOYABLE + ["jobs"])
def test_gpu_requests_only_on_the_evaluator_with_the_vendor_key(tree):
    docs = render(tree)
    want = GPU_KEYS.get(tree if tree != "queue-depth" else "nvidia")
    for wl, tpl in pod_specs(docs):
        for c in containers(tpl):
            res = c.get("resources", {})
            keys = set(res.get("requests", {})) | set(res.get("limits", {}))
            gpu = {k for k in keys if k.endswith("/gpu")}
            if wl["metadata"]["name"] == "geak-evaluator" and want:
                assert gpu == {want}, (tree, gpu)
                assert res["requests"][want] == 1 and res["limits"][want] == 1
            else:
                assert not gpu, "%s/%s asks for %s" % (wl["metadata"]["name"], c["name"], gpu)
    ev = workload(docs, "geak-evaluator") if tree != "jobs" else None
    if ev is None:
        return
    spec = ev["spec"]["template"]["spec"]
    image = spec["containers"][0]["image"]
    env = env_of(spec["containers"][0])
    if want:
        vendor = want.split(".")[0]
        assert image.endswith({"nvidia": ":cuda", "amd": ":rocm"}[vendor]), image
        assert any(t.get("key") == want for t in spec.get("tolerations", [])), tree
        assert spec.get("nodeSelector") and all(vendor in k for k in spec["nodeSelector"])
        assert env.get("GEAK_EVAL_GPU") == "0"
        if vendor == "amd":
            assert env.get("GEAK_GPU_HIP_LIB", "").endswith("/libamdhip64.so")
    else:
        assert image.endswith(":cpu") and "GEAK_EVAL_GPU" not in env
        assert not spec.get("tolerations") and not spec.get("nodeSelector")


# ---------------------------------------------------------------- secrets

@pytest.mark.parametrize("tree", sorted(TREES))
def test_no_secret_values_but_the_marked_placeholders(tree):
    docs = render(tree)
    for d in docs:
        if d["kind"] == "Secret":
            values = [base64.b64decode(v).decode() for v in d.get("data", {}).values()]
            values += list(d.get("stringData", {}).values())
            assert values, d["metadata"]["name"]
            for v in values:
                assert PLACEHOLDER in v, "Secret %s holds a value that is not a marked " \
                    "placeholder" % d["metadata"]["name"]
        if d["kind"] == "ConfigMap":
            for k, v in d.get("data", {}).items():
                if SECRETISH.search(k):
                    assert not v or k.endswith("_FILE"), "ConfigMap %s: %s" % (
                        d["metadata"]["name"], k)
                assert not re.search(r"^\s*(requirepass|masterauth)\b", v, re.M), \
                    "password in ConfigMap %s" % d["metadata"]["name"]
    for wl, tpl in pod_specs(docs):
        for c in containers(tpl):
            for e in c.get("env", []):
                if SECRETISH.search(e["name"]) and "value" in e:
                    assert e["name"].endswith("_FILE") and e["value"].startswith("/run/secrets/"), \
                        "%s: %s set in plain text" % (wl["metadata"]["name"], e["name"])


def test_placeholder_files_are_all_marked():
    files = os.path.join(K8S, "secrets", "files")
    names = sorted(os.listdir(files))
    assert names
    for name in names:
        with open(os.path.join(files, name)) as f:
            assert PLACEHOLDER in f.read(), name


# ------------------------------------------------------------- references

def _secrets():
    return {d["metadata"]["name"]: d for d in by_kind(render("secrets"), "Secret")}


@pytest.mark.parametrize("tree", DEPLOYABLE + ["jobs"])
def test_every_reference_resolves(tree):
    docs = render(tree) + ([] if tree != "jobs" else render("base"))
    secrets = _secrets()
    configmaps = {d["metadata"]["name"]: d for d in by_kind(docs, "ConfigMap")}
    pods = [(wl, tpl) for wl, tpl in pod_specs(docs)]
    for wl, tpl in pods:
        name = wl["metadata"]["name"]
        assert labels_match(wl["spec"]["selector"]["matchLabels"] if wl["kind"] != "Job"
                            else {}, tpl["metadata"]["labels"]), name
        for v in tpl["spec"].get("volumes", []):
            if "secret" in v:
                s = secrets.get(v["secret"]["secretName"])
                assert s, "%s: no Secret %s" % (name, v["secret"]["secretName"])
                for item in v["secret"].get("items", []):
                    assert item["key"] in s["data"], "%s: Secret %s has no key %s" % (
                        name, s["metadata"]["name"], item["key"])
            if "configMap" in v:
                cm = configmaps.get(v["configMap"]["name"])
                assert cm, "%s: no ConfigMap %s" % (name, v["configMap"]["name"])
        for c in containers(tpl):
            for e in c.get("envFrom", []):
                if "configMapRef" in e:
                    assert e["configMapRef"]["name"] in configmaps, name
            mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
            for k, v in env_of(c).items():
                if k.endswith("_FILE"):
                    assert any(v.startswith(m.rstrip("/") + "/") for m in mounts), \
                        "%s: %s=%s is not under a mount" % (name, k, v)
            ports = {p.get("name") for p in c.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                port = port or c.get(probe, {}).get("tcpSocket", {}).get("port")
                if isinstance(port, str):
                    assert port in ports, "%s %s port %s" % (name, probe, port)
    if tree == "jobs":
        return
    for svc in by_kind(docs, "Service"):
        sel = svc["spec"]["selector"]
        hits = [tpl for _, tpl in pods if labels_match(sel, tpl["metadata"]["labels"])]
        assert hits, "Service %s selects nothing" % svc["metadata"]["name"]
        names = {p["name"] for tpl in hits for c in tpl["spec"]["containers"]
                 for p in c.get("ports", [])}
        for p in svc["spec"]["ports"]:
            assert p["targetPort"] in names, (svc["metadata"]["name"], p["targetPort"])
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for d in by_kind(docs, kind):
            sel = (d["spec"]["selector"] if kind == "PodDisruptionBudget"
                   else d["spec"]["podSelector"])["matchLabels"]
            assert any(labels_match(sel, tpl["metadata"]["labels"]) for _, tpl in pods), \
                "%s %s selects nothing" % (kind, d["metadata"]["name"])
    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        find(docs, ref["kind"], ref["name"])
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    sts = find(docs, "StatefulSet", "geak-redis")
    headless = find(docs, "Service", sts["spec"]["serviceName"])
    assert headless["spec"].get("clusterIP") == "None"
    # what the services connect to is what the Services offer
    config = find(docs, "ConfigMap", "geak-config")["data"]
    assert config["GEAK_BROKER"] == "tcp://geak-broker:5555"
    find(docs, "Service", "geak-broker")
    assert config["GEAK_REDIS_HOST"] == "geak-redis"
    find(docs, "Service", "geak-redis")


# ----------------------------------------------- secrets, CURVE and Redis wiring

@pytest.mark.parametrize("tree", ["nvidia", "amd"])
def test_curve_and_secret_files_follow_the_shared_design(tree):
    docs = render(tree)

    def item_keys(tpl, secret):
        return [i["key"] for v in tpl["spec"]["volumes"]
                if v.get("secret", {}).get("secretName") == secret
                for i in v["secret"].get("items", [])]

    broker = workload(docs, "geak-broker")["spec"]["template"]
    env = env_of(broker["spec"]["containers"][0])
    assert env["GEAK_CURVE_KEY_FILE"] and env["GEAK_CURVE_AUTHORIZED_FILE"]
    assert "GEAK_CURVE_SERVER_PUBLIC_FILE" not in env
    assert item_keys(broker, "geak-curve-broker") == ["broker.key"]
    assert not item_keys(broker, "geak-curve-clients")
    for role in LLM_ROLES + ["evaluator"]:
        tpl = workload(docs, "geak-" + role)["spec"]["template"]
        env = env_of(tpl["spec"]["containers"][0])
        assert env["GEAK_CURVE_KEY_FILE"] and env["GEAK_CURVE_SERVER_PUBLIC_FILE"], role
        # its own key pair only; never the broker's
        assert item_keys(tpl, "geak-curve-clients") == [role + ".key"], role
        assert not item_keys(tpl, "geak-curve-broker"), role
        assert item_keys(tpl, "geak-curve-public") == ["broker.pub"], role
        if role in LLM_ROLES:
            assert env["GEAK_LLM_API_KEY_FILE"] and env["GEAK_REDIS_PASSWORD_FILE"], role
            assert tpl["metadata"]["labels"].get("geak.io/redis-access") == "true", role
        else:
            # untrusted code runs here: no LLM key, no Redis password
            assert "GEAK_LLM_API_KEY_FILE" not in env and "GEAK_REDIS_PASSWORD_FILE" not in env
            assert not item_keys(tpl, "geak-llm") and not item_keys(tpl, "geak-redis")
    job = workload(render("jobs"), "geak-run")["spec"]["template"]
    assert item_keys(job, "geak-curve-clients") == ["cli.key"]
    assert env_of(job["spec"]["containers"][0])["GEAK_REDIS_PASSWORD_FILE"]


def test_redis_persists_and_requires_auth():
    docs = render("base")
    sts = find(docs, "StatefulSet", "geak-redis")
    claims = sts["spec"]["volumeClaimTemplates"]
    assert claims and claims[0]["metadata"]["name"] == "data"
    tpl = sts["spec"]["template"]
    redis = tpl["spec"]["containers"][0]
    assert {"name": "data", "mountPath": "/data"} in redis["volumeMounts"]
    conf_name = [v["configMap"]["name"] for v in tpl["spec"]["volumes"] if "configMap" in v][0]
    conf = find(docs, "ConfigMap", conf_name)["data"]["redis.conf"]
    lines = [ln.strip() for ln in conf.splitlines() if ln.strip() and not ln.startswith("#")]
    assert "appendonly yes" in lines and "dir /data" in lines
    include = [ln.split()[1] for ln in lines if ln.startswith("include ")]
    assert len(include) == 1
    init = tpl["spec"]["initContainers"][0]
    script = " ".join(init["command"])
    assert "requirepass" in script and include[0] in script
    assert "/run/secrets/geak/redis/password" in script
    auth_vol = [m["name"] for m in init["volumeMounts"]
                if include[0].startswith(m["mountPath"] + "/")][0]
    vol = [v for v in tpl["spec"]["volumes"] if v["name"] == auth_vol][0]
    assert vol["emptyDir"].get("medium") == "Memory"


def test_queue_depth_example_scales_on_the_broker_metric():
    docs = render("queue-depth")
    for role in LLM_ROLES:
        hpa = find(docs, "HorizontalPodAutoscaler", "geak-" + role)
        metrics = hpa["spec"]["metrics"]
        assert [m["type"] for m in metrics] == ["External"], role
        ext = metrics[0]["external"]
        assert ext["metric"]["selector"]["matchLabels"] == {"service": "geak." + role}
    with open(os.path.join(K8S, "examples", "queue-depth", "prometheus-adapter-values.yaml")) as f:
        values = yaml.safe_load(f)
    names = [r["name"]["as"] for r in values["rules"]["external"]]
    used = {find(docs, "HorizontalPodAutoscaler", "geak-" + r)["spec"]["metrics"][0]
            ["external"]["metric"]["name"] for r in LLM_ROLES}
    assert used <= set(names)
