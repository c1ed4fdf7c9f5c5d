package e2e

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestK8sChecksCatch breaks the rendered example overlay in one way at a
// time and wants the checks of TestK8sManifests to name what broke: a
// check that cannot fail checks nothing.
func TestK8sChecksCatch(t *testing.T) {
	t.Parallel()
	overlay := k8sCases[1]
	docs := renderKustomization(t, overlay.dir)
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, r *k8sRender)
		want   string
	}{
		{"liveness probe removed", func(t *testing.T, r *k8sRender) {
			k8sContainer(t, r, "vote", "vote").LivenessProbe = nil
		}, "vote: liveness probe"},
		{"readiness probe on /healthz", func(t *testing.T, r *k8sRender) {
			k8sContainer(t, r, "result", "result").ReadinessProbe.HTTPGet.Path = "/healthz"
		}, "result: readiness probe GET /healthz port http (container port 8081"},
		{"probe of two kinds", func(t *testing.T, r *k8sRender) {
			k8sContainer(t, r, "nats", "nats").LivenessProbe.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(4222)}
		}, "nats/nats: liveness probe of 2 kinds"},
		{"probe on another port", func(t *testing.T, r *k8sRender) {
			k8sContainer(t, r, "worker", "worker").LivenessProbe.HTTPGet.Port = intstr.FromInt32(8080)
		}, "worker: liveness probe"},
		{"listen address moved", func(t *testing.T, r *k8sRender) {
			k8sConfigMap(t, r, "vote-env").Data["VOTE_ADDR"] = ":9090"
		}, "vote: listens on 9090"},
		{"memory limit removed", func(t *testing.T, r *k8sRender) {
			delete(k8sContainer(t, r, "result", "result").Resources.Limits, corev1.ResourceMemory)
		}, `result/result: memory request "256Mi" and limit ""`},
		{"GOMEMLIMIT removed", func(t *testing.T, r *k8sRender) {
			c := k8sContainer(t, r, "worker", "worker")
			c.Env = slicesDeleteEnv(c.Env, "GOMEMLIMIT")
		}, "worker/worker: no GOMEMLIMIT"},
		{"runs as root", func(t *testing.T, r *k8sRender) {
			w, _ := r.workload("nats")
			w.pod.Spec.SecurityContext.RunAsUser = new(int64(0))
		}, "nats/nats: security context: runAsNonRoot true with runAsUser 0"},
		{"writable root filesystem", func(t *testing.T, r *k8sRender) {
			k8sContainer(t, r, "redis", "redis").SecurityContext.ReadOnlyRootFilesystem = new(false)
		}, "redis/redis: security context: readOnlyRootFilesystem"},
		{"capabilities kept", func(t *testing.T, r *k8sRender) {
			k8sContainer(t, r, "worker", "migrate").SecurityContext.Capabilities = nil
		}, "worker/migrate: security context: capabilities"},
		{"no seccomp profile", func(t *testing.T, r *k8sRender) {
			w, _ := r.workload("postgres")
			w.pod.Spec.SecurityContext.SeccompProfile = nil
		}, "postgres/postgres: security context: seccompProfile"},
		{"service account token mounted", func(t *testing.T, r *k8sRender) {
			w, _ := r.workload("vote")
			w.pod.Spec.AutomountServiceAccountToken = nil
		}, "vote: automountServiceAccountToken"},
		{"secret key misspelt", func(t *testing.T, r *k8sRender) {
			k8sEnv(t, r, "worker", "worker", "PG_WORKER_PASSWORD").ValueFrom.SecretKeyRef.Key = "PG_WORKER_PASSWD"
		}, `has no key "PG_WORKER_PASSWD"`},
		{"ConfigMap missing", func(t *testing.T, r *k8sRender) {
			cm := k8sConfigMap(t, r, "poll-options")
			r.configMaps = deleteFunc(r.configMaps, func(c *corev1.ConfigMap) bool { return c == cm })
		}, `envFrom: ConfigMap "poll-options-`},
		{"ConfigMap volume missing", func(t *testing.T, r *k8sRender) {
			cm := k8sConfigMap(t, r, "nats-config")
			r.configMaps = deleteFunc(r.configMaps, func(c *corev1.ConfigMap) bool { return c == cm })
		}, `nats: volume config: ConfigMap "nats-config-`},
		{"$(VAR) misspelt", func(t *testing.T, r *k8sRender) {
			e := k8sEnv(t, r, "worker", "worker", "DATABASE_URL")
			e.Value = strings.Replace(e.Value, "$(PG_WORKER_PASSWORD)", "$(PG_WORKER_PASS)", 1)
		}, "$(PG_WORKER_PASS) names no variable defined before it"},
		{"variable misspelt", func(t *testing.T, r *k8sRender) {
			k8sConfigMap(t, r, "vote-env").Data["RESULT_UR"] = "https://vote.example.com/results"
		}, "vote/vote: variable RESULT_UR"},
		{"subcommand misspelt", func(t *testing.T, r *k8sRender) {
			k8sContainer(t, r, "worker", "migrate").Args = []string{"migrat"}
		}, "worker/migrate: runs worker migrat"},
		{"another service's secret", func(t *testing.T, r *k8sRender) {
			c := k8sContainer(t, r, "result", "result")
			c.Env = append(c.Env, *k8sEnv(t, r, "worker", "worker", "NATS_WORKER_PASSWORD"))
		}, "result/result: can read the secret NATS_WORKER_PASSWORD"},
		{"another service's database user", func(t *testing.T, r *k8sRender) {
			e := k8sEnv(t, r, "result", "result", "DATABASE_URL")
			e.Value = strings.Replace(e.Value, "livevote_result:", "livevote_worker:", 1)
		}, `result/result: DATABASE_URL user "livevote_worker", want "livevote_result"`},
		{"a password the server does not set", func(t *testing.T, r *k8sRender) {
			e := k8sEnv(t, r, "worker", "worker", "NATS_URL")
			e.Value = strings.Replace(e.Value, "$(NATS_WORKER_PASSWORD)", "$(PG_WORKER_PASSWORD)", 1)
		}, "worker/worker: NATS_URL's password is not the one nats sets for worker"},
		{"dependency host misspelt", func(t *testing.T, r *k8sRender) {
			k8sConfigMap(t, r, "vote-env").Data["REDIS_URL"] = "redis://redis-master:6379/0"
		}, "vote/vote: REDIS_URL names redis-master:6379"},
		{"Service selector matches nothing", func(t *testing.T, r *k8sRender) {
			r.service("vote").Spec.Selector["app.kubernetes.io/name"] = "votes"
		}, "Service vote: selector"},
		{"Service port to no container port", func(t *testing.T, r *k8sRender) {
			r.service("result").Spec.Ports[0].TargetPort = intstr.FromString("web")
		}, "Service result port 8081: targetPort web"},
		{"Ingress backend unknown", func(t *testing.T, r *k8sRender) {
			r.ingresses[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "results"
		}, "Ingress: backend results"},
		{"results path removed", func(t *testing.T, r *k8sRender) {
			h := r.ingresses[0].Spec.Rules[0].HTTP
			h.Paths = deleteFunc(h.Paths, func(p networkingv1.HTTPIngressPath) bool { return p.Path == "/results" })
		}, `Ingress: GET vote.example.com/results/ws goes to Service "vote", want the result server`},
		{"result prefix unset", func(t *testing.T, r *k8sRender) {
			delete(k8sConfigMap(t, r, "result-env").Data, "RESULT_PATH_PREFIX")
		}, `Ingress: GET vote.example.com/ws goes to Service "vote", want the result server`},
		{"ingress-nginx's 60 s read timeout", func(t *testing.T, r *k8sRender) {
			delete(r.ingresses[0].Annotations, "nginx.ingress.kubernetes.io/proxy-read-timeout")
		}, "Ingress: nginx.ingress.kubernetes.io/proxy-read-timeout"},
		{"no TLS", func(t *testing.T, r *k8sRender) {
			r.ingresses[0].Spec.TLS = nil
		}, "Ingress: host vote.example.com has no TLS certificate"},
		{"RESULT_URL on another host", func(t *testing.T, r *k8sRender) {
			k8sConfigMap(t, r, "vote-env").Data["RESULT_URL"] = "https://results.example.com/results"
		}, `vote: RESULT_URL "https://results.example.com/results", want "https://vote.example.com/results"`},
		{"TRUSTED_PROXIES unset", func(t *testing.T, r *k8sRender) {
			delete(k8sConfigMap(t, r, "vote-env").Data, "TRUSTED_PROXIES")
		}, "vote: TRUSTED_PROXIES unset"},
		{"PodDisruptionBudget removed", func(t *testing.T, r *k8sRender) {
			r.pdbs = deleteFunc(r.pdbs, func(p *policyv1.PodDisruptionBudget) bool { return p.Name == "worker" })
		}, "worker: no PodDisruptionBudget"},
		{"PodDisruptionBudget blocks drains", func(t *testing.T, r *k8sRender) {
			for _, p := range r.pdbs {
				if p.Name == "vote" {
					p.Spec.MaxUnavailable = new(intstr.FromInt32(0))
				}
			}
		}, "PodDisruptionBudget vote: maxUnavailable 0"},
		{"autoscaler targets nothing", func(t *testing.T, r *k8sRender) {
			r.hpas[0].Spec.ScaleTargetRef.Name = "nothing"
		}, "targets apps/v1 Deployment nothing"},
		{"replicas beside the autoscaler", func(t *testing.T, r *k8sRender) {
			for _, d := range r.deployments {
				if d.Name == "result" {
					d.Spec.Replicas = new(int32(2))
				}
			}
		}, "result: replicas 2 beside a HorizontalPodAutoscaler"},
		{"one worker", func(t *testing.T, r *k8sRender) {
			for _, d := range r.deployments {
				if d.Name == "worker" {
					d.Spec.Replicas = new(int32(1))
				}
			}
		}, "worker: replicas 1, want 2"},
		{"two databases", func(t *testing.T, r *k8sRender) {
			for _, s := range r.statefulSets {
				if s.Name == "postgres" {
					s.Spec.Replicas = new(int32(2))
				}
			}
		}, "postgres: replicas 2, want 1"},
		{"no spread", func(t *testing.T, r *k8sRender) {
			w, _ := r.workload("vote")
			w.pod.Spec.TopologySpreadConstraints = nil
		}, "vote: pods not spread over nodes"},
		{"no preStop", func(t *testing.T, r *k8sRender) {
			k8sContainer(t, r, "vote", "vote").Lifecycle = nil
		}, "vote: preStop sleep 0s"},
		{"grace shorter than the shutdown", func(t *testing.T, r *k8sRender) {
			w, _ := r.workload("result")
			w.pod.Spec.TerminationGracePeriodSeconds = new(int64(15))
		}, "result: terminationGracePeriodSeconds 15s, want above preStop 5s + shutdown 15s"},
		{"Redis without append-only", func(t *testing.T, r *k8sRender) {
			cm := k8sConfigMap(t, r, "redis-config")
			cm.Data["redis.conf"] = strings.Replace(cm.Data["redis.conf"], "appendonly yes", "appendonly no", 1)
		}, `redis: appendonly "no", want yes`},
		{"Redis evicting", func(t *testing.T, r *k8sRender) {
			cm := k8sConfigMap(t, r, "redis-config")
			cm.Data["redis.conf"] += "maxmemory-policy allkeys-lru\n"
		}, `redis: maxmemory-policy "allkeys-lru"`},
		{"Redis data on a scratch volume", func(t *testing.T, r *k8sRender) {
			w, _ := r.workload("redis")
			w.pod.Spec.Volumes = append(w.pod.Spec.Volumes, corev1.Volume{Name: "scratch",
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			k8sContainer(t, r, "redis", "redis").VolumeMounts[0].Name = "scratch"
		}, `redis: dir "/data" is on no persistent volume claim`},
		{"nats.conf drifted", func(t *testing.T, r *k8sRender) {
			k8sConfigMap(t, r, "nats-config").Data["nats.conf"] += "authorization: {}\n"
		}, "nats: /etc/nats/nats.conf (mounted true) is not the repository's nats.conf"},
		{"roles not run", func(t *testing.T, r *k8sRender) {
			k8sContainer(t, r, "postgres", "postgres").Lifecycle.PostStart = nil
		}, "postgres: postStart \"\" runs no roles.sh"},
		{"policy lets vote reach PostgreSQL", func(t *testing.T, r *k8sRender) {
			for _, np := range r.policies {
				if np.Name == "postgres" {
					e := &np.Spec.Ingress[0].From[0].PodSelector.MatchExpressions[0]
					e.Values = append(e.Values, "vote")
				}
			}
		}, "NetworkPolicies: vote → postgres:postgres allowed true, want false"},
		{"Redis policy removed", func(t *testing.T, r *k8sRender) {
			r.policies = deleteFunc(r.policies, func(np *networkingv1.NetworkPolicy) bool { return np.Name == "redis" })
		}, "NetworkPolicies: vote → redis:redis allowed false, want true"},
		{"real secret in git", func(t *testing.T, r *k8sRender) {
			r.secrets[0].Data["NATS_WORKER_PASSWORD"] = []byte("hunter2")
		}, "Secret livevote-secrets-"},
		{"object outside the namespace", func(t *testing.T, r *k8sRender) {
			r.services[0].Namespace = "default"
		}, `namespace "default", want "livevote"`},
		{"untagged image", func(t *testing.T, r *k8sRender) {
			k8sContainer(t, r, "result", "result").Image = "ghcr.io/livevote/result:latest"
		}, `result/result: image "ghcr.io/livevote/result:latest"`},
		{"namespace not restricted", func(t *testing.T, r *k8sRender) {
			delete(r.namespaces[0].Labels, "pod-security.kubernetes.io/enforce")
		}, `pod-security.kubernetes.io/enforce "", want restricted`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := decodeK8s(docs)
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(t, r)
			var got []string
			for _, ch := range k8sChecks {
				got = append(got, ch.check(r, overlay)...)
			}
			for _, p := range got {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no check says %q; they say:\n%s", tc.want, strings.Join(got, "\n"))
		})
	}
}

// TestK8sStrictDecoding: what the API server's strict field validation
// refuses, the decoder refuses, so a misspelt field fails the test rather
// than vanish in the cluster.
func TestK8sStrictDecoding(t *testing.T) {
	t.Parallel()
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: vote}
spec:
  selector: {matchLabels: {app: vote}}
  template:
    metadata: {labels: {app: vote}}
    spec:
      containers:
        - name: vote
          image: ghcr.io/livevote/vote:v2
`
	for _, tc := range []struct {
		name, doc string
		wantErr   string
	}{
		{"valid", deployment, ""},
		{"unknown field", deployment + "          livenesProbe: {httpGet: {path: /healthz, port: 8080}}\n", `unknown field "spec.template.spec.containers[0].livenesProbe"`},
		{"field of another level", strings.Replace(deployment, "  selector:", "  replicas: 2\n  image: x\n  selector:", 1), `unknown field "spec.image"`},
		{"duplicate field", strings.Replace(deployment, "  selector:", "  replicas: 2\n  replicas: 3\n  selector:", 1), "already set in map"},
		{"wrong type", strings.Replace(deployment, "  selector:", "  replicas: two\n  selector:", 1), "replicas"},
		{"unknown kind", strings.Replace(deployment, "kind: Deployment", "kind: Deploymnet", 1), `no kind "Deploymnet"`},
		{"kind the manifests do not use", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", "unexpected kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeK8s([][]byte{[]byte(tc.doc)})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func k8sContainer(t *testing.T, r *k8sRender, workload, container string) *corev1.Container {
	t.Helper()
	w, ok := r.workload(workload)
	if !ok {
		t.Fatalf("no workload %s", workload)
	}
	for _, list := range [][]corev1.Container{w.pod.Spec.InitContainers, w.pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == container {
				return &list[i]
			}
		}
	}
	t.Fatalf("%s: no container %s", workload, container)
	return nil
}

func k8sEnv(t *testing.T, r *k8sRender, workload, container, name string) *corev1.EnvVar {
	t.Helper()
	c := k8sContainer(t, r, workload, container)
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	t.Fatalf("%s/%s: no env %s", workload, container, name)
	return nil
}

// k8sConfigMap finds a generated ConfigMap by the name before kustomize's
// hash suffix.
func k8sConfigMap(t *testing.T, r *k8sRender, name string) *corev1.ConfigMap {
	t.Helper()
	for _, cm := range r.configMaps {
		if strings.HasPrefix(cm.Name, name+"-") {
			return cm
		}
	}
	t.Fatalf("no ConfigMap %s", name)
	return nil
}

func slicesDeleteEnv(env []corev1.EnvVar, name string) []corev1.EnvVar {
	return deleteFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
}

// deleteFunc is slices.DeleteFunc on a copy: the render's slices stay whole.
func deleteFunc[T any](s []T, del func(T) bool) []T {
	var out []T
	for _, v := range s {
		if !del(v) {
			out = append(out, v)
		}
	}
	return out
}
