package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// No cluster runs where the tests run, so deploy/k8s is checked by
// rendering it with kustomize's own Go API, decoding every object strictly
// into its k8s.io/api type and checking what a cluster would only show
// when it goes wrong: probes on the servers' real paths and ports, limits,
// restricted security contexts, references that resolve, Ingress routes
// that reach the servers' routes, NetworkPolicies that let through exactly
// the connections the system makes. TestK8sChecksCatch breaks a rendered
// manifest in each way and wants the checks to say so.

// k8sCase is one kustomization to render and check.
type k8sCase struct {
	name, dir string
	// external are the Secrets the render refers to without holding them
	// (the base leaves livevote-secrets to an overlay).
	external map[string]bool
	// overlay: an installation, which must name its namespace, host, image
	// tags and secrets.
	overlay bool
}

var k8sCases = []k8sCase{
	{name: "base", dir: "../deploy/k8s/base", external: map[string]bool{"livevote-secrets": true}},
	{name: "example overlay", dir: "../deploy/k8s/overlays/example", overlay: true},
}

// k8sServer is one of our servers as the checks need to know it.
type k8sServer struct {
	name        string // its Deployment, container and image
	addrVar     string // where it reads its listen address
	defaultPort int32
	// shutdown is the most it takes from SIGTERM to exit: the timeouts in
	// its main.go (result: closing WebSockets 5 s, then HTTP 10 s; worker:
	// the batch in flight 10 s (relay.Config.Grace), then HTTP 5 s).
	shutdown time.Duration
	// public servers are behind the Ingress: they wait for the endpoints
	// to forget them (preStop) and scale with a HorizontalPodAutoscaler.
	public bool
	// routes are paths it serves (the result server's below its
	// RESULT_PATH_PREFIX), which the Ingress must send to it.
	routes []string
}

var k8sServers = []k8sServer{
	{name: "vote", addrVar: "VOTE_ADDR", defaultPort: 8080, shutdown: 10 * time.Second, public: true,
		routes: []string{"/", "/p/default", "/p/q7k2m9xa", "/new", "/api/vote", "/api/polls", "/api/polls/q7k2m9xa/votes"}},
	{name: "worker", addrVar: "WORKER_ADDR", defaultPort: 8082, shutdown: 15 * time.Second},
	{name: "result", addrVar: "RESULT_ADDR", defaultPort: 8081, shutdown: 15 * time.Second, public: true,
		routes: []string{"", "/", "/p/default", "/p/q7k2m9xa/present", "/ws", "/api/tally",
			"/api/polls/q7k2m9xa/tally", "/api/polls/q7k2m9xa/results.csv"}},
}

// k8sCredentials says, per container, which keys of the Secret it may see
// and as whom it connects: the least each needs.
var k8sCredentials = []struct {
	workload, container string
	keys                []string
	dbUser, natsUser    string
}{
	{workload: "vote", container: "vote", keys: []string{"POLL_CREATE_TOKEN"}},
	{workload: "worker", container: "migrate", keys: []string{"PG_MIGRATE_PASSWORD"}, dbUser: "livevote_migrate"},
	{workload: "worker", container: "worker", keys: []string{"PG_WORKER_PASSWORD", "NATS_WORKER_PASSWORD"},
		dbUser: "livevote_worker", natsUser: "worker"},
	{workload: "result", container: "result", keys: []string{"PG_RESULT_PASSWORD", "NATS_RESULT_PASSWORD"},
		dbUser: "livevote_result", natsUser: "result"},
	{workload: "nats", container: "nats", keys: []string{"NATS_WORKER_PASSWORD", "NATS_RESULT_PASSWORD"}},
	{workload: "postgres", container: "postgres",
		keys: []string{"POSTGRES_PASSWORD", "PG_MIGRATE_PASSWORD", "PG_WORKER_PASSWORD", "PG_RESULT_PASSWORD"}},
	{workload: "redis", container: "redis"},
}

// k8sPasswordHolders: where the password of each database or NATS user
// is set on the server side (roles.sh reads PG_*_PASSWORD, nats.conf
// NATS_*_PASSWORD).
var k8sPasswordHolders = map[string]struct{ workload, env string }{
	"postgres:livevote_migrate": {"postgres", "PG_MIGRATE_PASSWORD"},
	"postgres:livevote_worker":  {"postgres", "PG_WORKER_PASSWORD"},
	"postgres:livevote_result":  {"postgres", "PG_RESULT_PASSWORD"},
	"nats:worker":               {"nats", "NATS_WORKER_PASSWORD"},
	"nats:result":               {"nats", "NATS_RESULT_PASSWORD"},
}

// wsPingPeriod is the result server's WebSocket ping period
// (result/internal/hub: pingPeriod): a proxy must let a connection stay
// silent longer than that.
const wsPingPeriod = 54 * time.Second

type k8sCheck struct {
	name  string
	check func(r *k8sRender, c k8sCase) []string
}

var k8sChecks = []k8sCheck{
	{"workloads", checkK8sWorkloads},
	{"replicas and spread", checkK8sReplicas},
	{"disruption budgets", checkK8sPDBs},
	{"autoscalers", checkK8sHPAs},
	{"resources", checkK8sResources},
	{"GOMEMLIMIT", checkK8sGoMemLimit},
	{"security contexts", checkK8sSecurity},
	{"probes", checkK8sProbes},
	{"graceful termination", checkK8sTermination},
	{"references", checkK8sReferences},
	{"variables read", checkK8sVariables},
	{"subcommands", checkK8sSubcommands},
	{"credentials", checkK8sCredentials},
	{"dependency URLs", checkK8sDependencyURLs},
	{"services", checkK8sServices},
	{"ingress", checkK8sIngress},
	{"public URLs", checkK8sPublicURLs},
	{"network policies", checkK8sNetworkPolicies},
	{"persistence", checkK8sPersistence},
	{"config copies", checkK8sConfigCopies},
	{"installation", checkK8sInstallation},
}

func TestK8sManifests(t *testing.T) {
	t.Parallel()
	for _, c := range k8sCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r, err := decodeK8s(renderKustomization(t, c.dir))
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range k8sChecks {
				t.Run(ch.name, func(t *testing.T) {
					for _, p := range ch.check(r, c) {
						t.Error(p)
					}
				})
			}
		})
	}
}

// TestK8sCopies: kustomize reads no file outside its folder, so the base
// holds copies of nats.conf and deploy/postgres/roles.*; they must not
// drift from the originals.
func TestK8sCopies(t *testing.T) {
	t.Parallel()
	for copyPath, orig := range map[string]string{
		"../deploy/k8s/base/nats.conf": "../nats.conf",
		"../deploy/k8s/base/roles.sh":  "../deploy/postgres/roles.sh",
		"../deploy/k8s/base/roles.sql": "../deploy/postgres/roles.sql",
	} {
		t.Run(filepath.Base(copyPath), func(t *testing.T) {
			got, err := os.ReadFile(copyPath)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(orig)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s: copy it again (cp %s %s)", copyPath, orig, orig, copyPath)
			}
		})
	}
}

func checkK8sWorkloads(r *k8sRender, _ k8sCase) []string {
	var p []string
	for name, kind := range map[string]string{"vote": "Deployment", "worker": "Deployment", "result": "Deployment",
		"nats": "Deployment", "redis": "StatefulSet", "postgres": "StatefulSet"} {
		w, ok := r.workload(name)
		if !ok || w.kind != kind {
			p = append(p, fmt.Sprintf("workload %s: got %q, want a %s", name, w.kind, kind))
		}
	}
	for _, w := range r.workloads() {
		if !selects(w.selector, w.pod.Labels) {
			p = append(p, fmt.Sprintf("%s %s: its selector %v does not select its own pods %v", w.kind, w.name, w.selector, w.pod.Labels))
		}
	}
	return p
}

func (r *k8sRender) hpaFor(name string) *autoscalingv2.HorizontalPodAutoscaler {
	for _, h := range r.hpas {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == name {
			return h
		}
	}
	return nil
}

func checkK8sReplicas(r *k8sRender, _ k8sCase) []string {
	var p []string
	for _, s := range k8sServers {
		w, ok := r.workload(s.name)
		if !ok {
			continue
		}
		if h := r.hpaFor(s.name); h != nil {
			// A replicas field would reset the autoscaler's count on every apply.
			if w.replicas != nil {
				p = append(p, fmt.Sprintf("%s: replicas %d beside a HorizontalPodAutoscaler, want it unset (the autoscaler's minReplicas %d holds)",
					s.name, *w.replicas, ptrOr(h.Spec.MinReplicas, 1)))
			}
		} else if got := ptrOr(w.replicas, 1); got != 2 {
			p = append(p, fmt.Sprintf("%s: replicas %d, want 2", s.name, got))
		}
		if !spreadsOverNodes(w) {
			p = append(p, fmt.Sprintf("%s: pods not spread over nodes: want a topologySpreadConstraint on kubernetes.io/hostname "+
				"(DoNotSchedule, selecting its pods) or a required pod anti-affinity", s.name))
		}
	}
	for _, name := range []string{"redis", "postgres"} {
		// One primary: a second pod of these StatefulSets would be a second,
		// separate database, not a replica.
		if w, ok := r.workload(name); ok && ptrOr(w.replicas, 1) != 1 {
			p = append(p, fmt.Sprintf("%s: replicas %d, want 1", name, *w.replicas))
		}
	}
	return p
}

func ptrOr[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}

func spreadsOverNodes(w k8sWorkload) bool {
	for _, tsc := range w.pod.Spec.TopologySpreadConstraints {
		if tsc.TopologyKey == "kubernetes.io/hostname" && tsc.WhenUnsatisfiable == corev1.DoNotSchedule &&
			tsc.MaxSkew == 1 && selects(tsc.LabelSelector, w.pod.Labels) {
			return true
		}
	}
	if a := w.pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == "kubernetes.io/hostname" && selects(term.LabelSelector, w.pod.Labels) {
				return true
			}
		}
	}
	return false
}

func checkK8sPDBs(r *k8sRender, _ k8sCase) []string {
	var p []string
	covered := map[string]bool{}
	for _, pdb := range r.pdbs {
		var matched []string
		for _, w := range r.workloads() {
			if selects(pdb.Spec.Selector, w.pod.Labels) {
				matched = append(matched, w.name)
				covered[w.name] = true
			}
		}
		if len(matched) != 1 {
			p = append(p, fmt.Sprintf("PodDisruptionBudget %s selects workloads %v, want exactly one", pdb.Name, matched))
		}
		// With two pods, minAvailable 2 (or maxUnavailable 0) would block
		// every node drain.
		if mu := pdb.Spec.MaxUnavailable; mu != nil && mu.Type == intstr.Int && mu.IntVal < 1 {
			p = append(p, fmt.Sprintf("PodDisruptionBudget %s: maxUnavailable %d, want at least 1", pdb.Name, mu.IntVal))
		}
		if ma := pdb.Spec.MinAvailable; ma != nil && (ma.Type != intstr.Int || ma.IntVal >= 2) {
			p = append(p, fmt.Sprintf("PodDisruptionBudget %s: minAvailable %s, want 1 (or maxUnavailable 1)", pdb.Name, ma.String()))
		}
	}
	for _, s := range k8sServers {
		if !covered[s.name] {
			p = append(p, fmt.Sprintf("%s: no PodDisruptionBudget selects its pods", s.name))
		}
	}
	return p
}

func checkK8sHPAs(r *k8sRender, _ k8sCase) []string {
	var p []string
	for _, h := range r.hpas {
		ref := h.Spec.ScaleTargetRef
		w, ok := r.workload(ref.Name)
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || !ok || w.kind != "Deployment" {
			p = append(p, fmt.Sprintf("HorizontalPodAutoscaler %s targets %s %s %s, want an apps/v1 Deployment of the render",
				h.Name, ref.APIVersion, ref.Kind, ref.Name))
			continue
		}
		if min := ptrOr(h.Spec.MinReplicas, 1); min < 2 || h.Spec.MaxReplicas <= min {
			p = append(p, fmt.Sprintf("HorizontalPodAutoscaler %s: replicas %d to %d, want at least 2 and room above", h.Name, min, h.Spec.MaxReplicas))
		}
		if len(h.Spec.Metrics) == 0 {
			p = append(p, fmt.Sprintf("HorizontalPodAutoscaler %s: no metrics", h.Name))
		}
		for _, m := range h.Spec.Metrics {
			if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
				continue
			}
			// Utilization is relative to the requests: every container needs one.
			for _, c := range w.pod.Spec.Containers {
				if _, ok := c.Resources.Requests[m.Resource.Name]; !ok {
					p = append(p, fmt.Sprintf("HorizontalPodAutoscaler %s scales on %s, but container %s requests none",
						h.Name, m.Resource.Name, c.Name))
				}
			}
		}
	}
	for _, s := range k8sServers {
		if s.public && r.hpaFor(s.name) == nil {
			p = append(p, fmt.Sprintf("%s: no HorizontalPodAutoscaler targets its Deployment", s.name))
		}
	}
	return p
}

func checkK8sResources(r *k8sRender, _ k8sCase) []string {
	var p []string
	for _, w := range r.workloads() {
		for _, c := range allContainers(&w.pod.Spec) {
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, hasReq := c.Resources.Requests[res]
				lim, hasLim := c.Resources.Limits[res]
				switch {
				case !hasReq || !hasLim:
					p = append(p, fmt.Sprintf("%s/%s: %s request %q and limit %q, want both",
						w.name, c.Name, res, quantity(req, hasReq), quantity(lim, hasLim)))
				case req.Cmp(lim) > 0:
					p = append(p, fmt.Sprintf("%s/%s: %s request %s above its limit %s", w.name, c.Name, res, req.String(), lim.String()))
				}
			}
		}
	}
	return p
}

func quantity(q resource.Quantity, ok bool) string {
	if !ok {
		return ""
	}
	return q.String()
}

// checkK8sGoMemLimit: the Go programs (ours and NATS) get GOMEMLIMIT from
// their own memory limit, so their collector works harder before the
// kernel kills them.
func checkK8sGoMemLimit(r *k8sRender, _ k8sCase) []string {
	var p []string
	for _, w := range r.workloads() {
		for _, c := range allContainers(&w.pod.Spec) {
			if k8sServiceOf(c) == "" && !strings.HasPrefix(c.Image, "nats:") {
				continue
			}
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" })
			if i < 0 {
				p = append(p, fmt.Sprintf("%s/%s: no GOMEMLIMIT", w.name, c.Name))
				continue
			}
			e := c.Env[i]
			var rf *corev1.ResourceFieldSelector
			if e.ValueFrom != nil {
				rf = e.ValueFrom.ResourceFieldRef
			}
			if rf == nil || rf.Resource != "limits.memory" || (rf.ContainerName != "" && rf.ContainerName != c.Name) ||
				(!rf.Divisor.IsZero() && rf.Divisor.Value() != 1) {
				p = append(p, fmt.Sprintf("%s/%s: GOMEMLIMIT %+v, want its own limits.memory in bytes (resourceFieldRef)", w.name, c.Name, e))
			}
		}
	}
	return p
}

// checkK8sSecurity: the Pod Security Standard "restricted", and no API
// token in pods that never call the API.
func checkK8sSecurity(r *k8sRender, _ k8sCase) []string {
	var p []string
	for _, w := range r.workloads() {
		spec := &w.pod.Spec
		psc := spec.SecurityContext
		if psc == nil {
			psc = &corev1.PodSecurityContext{}
		}
		if spec.HostNetwork || spec.HostPID || spec.HostIPC {
			p = append(p, fmt.Sprintf("%s: shares the node's network, PID or IPC namespace", w.name))
		}
		if ptrOr(spec.AutomountServiceAccountToken, true) {
			p = append(p, fmt.Sprintf("%s: automountServiceAccountToken unset or true, want false", w.name))
		}
		for _, c := range allContainers(spec) {
			sc := c.SecurityContext
			if sc == nil {
				sc = &corev1.SecurityContext{}
			}
			nonRoot := ptrOr(sc.RunAsNonRoot, ptrOr(psc.RunAsNonRoot, false))
			uid := ptrOr(sc.RunAsUser, ptrOr(psc.RunAsUser, -1))
			seccomp := sc.SeccompProfile
			if seccomp == nil {
				seccomp = psc.SeccompProfile
			}
			var problems []string
			if !nonRoot || uid == 0 {
				problems = append(problems, fmt.Sprintf("runAsNonRoot %v with runAsUser %d, want true and not 0", nonRoot, uid))
			}
			if ptrOr(sc.AllowPrivilegeEscalation, true) {
				problems = append(problems, "allowPrivilegeEscalation unset or true, want false")
			}
			if ptrOr(sc.Privileged, false) {
				problems = append(problems, "privileged")
			}
			if !ptrOr(sc.ReadOnlyRootFilesystem, false) {
				problems = append(problems, "readOnlyRootFilesystem unset or false, want true")
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				problems = append(problems, fmt.Sprintf("capabilities %+v, want drop [ALL] and none added", sc.Capabilities))
			}
			if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
				problems = append(problems, fmt.Sprintf("seccompProfile %+v, want RuntimeDefault", seccomp))
			}
			for _, pr := range problems {
				p = append(p, fmt.Sprintf("%s/%s: security context: %s", w.name, c.Name, pr))
			}
		}
	}
	return p
}

// listenPort is the port s listens on in container c: its address
// variable's port, or the contract's default.
func (r *k8sRender) listenPort(s k8sServer, c corev1.Container, external map[string]bool) (int32, error) {
	env, _ := r.containerEnv(c, external)
	addr, ok := env[s.addrVar]
	if !ok {
		return s.defaultPort, nil
	}
	port, err := addrPort(addr.value)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", s.addrVar, addr.value, err)
	}
	return port, nil
}

// serverContainer is s's own container in its workload.
func (r *k8sRender) serverContainer(s k8sServer) (k8sWorkload, corev1.Container, bool) {
	w, ok := r.workload(s.name)
	if !ok {
		return w, corev1.Container{}, false
	}
	for _, c := range w.pod.Spec.Containers {
		if k8sServiceOf(c) == s.name {
			return w, c, true
		}
	}
	return w, corev1.Container{}, false
}

func checkK8sProbes(r *k8sRender, kc k8sCase) []string {
	var p []string
	for _, s := range k8sServers {
		_, c, ok := r.serverContainer(s)
		if !ok {
			p = append(p, fmt.Sprintf("%s: no container runs ghcr.io/livevote/%s", s.name, s.name))
			continue
		}
		port, err := r.listenPort(s, c, kc.external)
		if err != nil {
			p = append(p, fmt.Sprintf("%s: %v", s.name, err))
			continue
		}
		if _, ok := containerPort(c, intstr.FromInt32(port)); !ok {
			p = append(p, fmt.Sprintf("%s: listens on %d, which is not among its containerPorts %v", s.name, port, c.Ports))
		}
		for _, probe := range []struct {
			kind, path string
			probe      *corev1.Probe
		}{{"liveness", "/healthz", c.LivenessProbe}, {"readiness", "/readyz", c.ReadinessProbe}} {
			if probe.probe == nil || probe.probe.HTTPGet == nil {
				p = append(p, fmt.Sprintf("%s: %s probe %+v, want GET %s", s.name, probe.kind, probe.probe, probe.path))
				continue
			}
			g := probe.probe.HTTPGet
			got, ok := containerPort(c, g.Port)
			if g.Path != probe.path || !ok || got != port || (g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP) {
				p = append(p, fmt.Sprintf("%s: %s probe GET %s port %s (container port %d, scheme %q), want GET %s on %d over HTTP",
					s.name, probe.kind, g.Path, g.Port.String(), got, g.Scheme, probe.path, port))
			}
		}
	}
	for _, w := range r.workloads() {
		for _, c := range w.pod.Spec.Containers {
			if c.LivenessProbe == nil || c.ReadinessProbe == nil {
				p = append(p, fmt.Sprintf("%s/%s: liveness %v and readiness %v, want both", w.name, c.Name,
					c.LivenessProbe != nil, c.ReadinessProbe != nil))
			}
			// The API server refuses a probe of no or several kinds.
			for kind, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
				if probe == nil {
					continue
				}
				h := probe.ProbeHandler
				if n := countSet(h.Exec != nil, h.HTTPGet != nil, h.TCPSocket != nil, h.GRPC != nil); n != 1 {
					p = append(p, fmt.Sprintf("%s/%s: %s probe of %d kinds (exec, httpGet, tcpSocket, grpc), want 1", w.name, c.Name, kind, n))
				}
			}
		}
	}
	return p
}

func countSet(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// checkK8sTermination: the kubelet's SIGKILL comes terminationGracePeriod
// after the preStop hook starts; the server needs the hook's time plus its
// own shutdown. The servers behind Services wait first, so that no request
// reaches a server that has stopped listening.
func checkK8sTermination(r *k8sRender, _ k8sCase) []string {
	var p []string
	for _, s := range k8sServers {
		w, c, ok := r.serverContainer(s)
		if !ok {
			continue
		}
		var wait time.Duration
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			wait = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
		if s.public && wait < time.Second {
			p = append(p, fmt.Sprintf("%s: preStop sleep %v, want a few seconds for the endpoints to drop it", s.name, wait))
		}
		grace := time.Duration(ptrOr(w.pod.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
		if grace <= wait+s.shutdown {
			p = append(p, fmt.Sprintf("%s: terminationGracePeriodSeconds %v, want above preStop %v + shutdown %v", s.name, grace, wait, s.shutdown))
		}
	}
	return p
}

// checkK8sReferences: what a pod refers to is there: ConfigMaps, Secrets
// and their keys (env, envFrom, volumes), volumes and their mounts, and
// the $(VAR)s of env values, commands and arguments.
func checkK8sReferences(r *k8sRender, kc k8sCase) []string {
	var p []string
	for _, w := range r.workloads() {
		spec := &w.pod.Spec
		claims := map[string]bool{}
		if w.kind == "StatefulSet" {
			for _, s := range r.statefulSets {
				if s.Name == w.name {
					for _, vct := range s.Spec.VolumeClaimTemplates {
						claims[vct.Name] = true
					}
				}
			}
		}
		volumes := map[string]bool{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = true
			switch {
			case v.ConfigMap != nil:
				cm := r.configMap(v.ConfigMap.Name)
				if cm == nil {
					p = append(p, fmt.Sprintf("%s: volume %s: ConfigMap %q is not in the render", w.name, v.Name, v.ConfigMap.Name))
					continue
				}
				for _, it := range v.ConfigMap.Items {
					if _, ok := cm.Data[it.Key]; !ok {
						p = append(p, fmt.Sprintf("%s: volume %s: ConfigMap %q has no key %q", w.name, v.Name, cm.Name, it.Key))
					}
				}
			case v.Secret != nil:
				s := r.secret(v.Secret.SecretName)
				if s == nil && !kc.external[v.Secret.SecretName] {
					p = append(p, fmt.Sprintf("%s: volume %s: Secret %q is not in the render", w.name, v.Name, v.Secret.SecretName))
				}
			}
		}
		for _, c := range allContainers(spec) {
			env, problems := r.containerEnv(c, kc.external)
			for _, pr := range problems {
				p = append(p, fmt.Sprintf("%s/%s: %s", w.name, c.Name, pr))
			}
			for _, arg := range append(slices.Clone(c.Command), c.Args...) {
				for _, m := range envVarRef.FindAllStringSubmatch(arg, -1) {
					if _, ok := env[m[1]]; !ok {
						p = append(p, fmt.Sprintf("%s/%s: argument %q: $(%s) names no variable of the container", w.name, c.Name, arg, m[1]))
					}
				}
			}
			for _, m := range c.VolumeMounts {
				if !volumes[m.Name] && !claims[m.Name] {
					p = append(p, fmt.Sprintf("%s/%s: mount %s: no volume or volumeClaimTemplate %q", w.name, c.Name, m.MountPath, m.Name))
				}
			}
		}
		for v := range volumes {
			if !slices.ContainsFunc(allContainers(spec), func(c corev1.Container) bool {
				return slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == v })
			}) {
				p = append(p, fmt.Sprintf("%s: volume %s is mounted nowhere", w.name, v))
			}
		}
	}
	return p
}

// envName matches what could be the name of an environment variable in
// Go source: a string literal in capitals.
var envName = regexp.MustCompile(`"([A-Z][A-Z0-9_]{2,})"`)

// goRuntimeVars are read by the Go runtime, not by our code.
var goRuntimeVars = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG", "GOTRACEBACK"}

// serviceReads lists the variables a service's code names: every capital
// string literal of its main.go, its internal/config and shared/config
// (the default poll's labels).
func serviceReads(service string) (map[string]bool, error) {
	files := []string{filepath.Join("..", service, "main.go")}
	for _, dir := range []string{filepath.Join("..", service, "internal", "config"), filepath.Join("..", "shared", "config")} {
		more, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return nil, err
		}
		files = append(files, more...)
	}
	read := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range envName.FindAllStringSubmatch(string(b), -1) {
			read[m[1]] = true
		}
	}
	for _, v := range goRuntimeVars {
		read[v] = true
	}
	return read, nil
}

// checkK8sVariables: every variable our containers get is one their code
// reads (a misspelt one would be ignored without a word), or one that
// another of its variables uses through $(VAR) (a password put into a URL).
func checkK8sVariables(r *k8sRender, kc k8sCase) []string {
	var p []string
	for _, w := range r.workloads() {
		for _, c := range allContainers(&w.pod.Spec) {
			svc := k8sServiceOf(c)
			if svc == "" {
				continue
			}
			read, err := serviceReads(svc)
			if err != nil {
				return []string{err.Error()}
			}
			used := map[string]bool{}
			for _, e := range c.Env {
				for _, m := range envVarRef.FindAllStringSubmatch(e.Value, -1) {
					used[m[1]] = true
				}
			}
			env, _ := r.containerEnv(c, kc.external)
			for _, name := range slices.Sorted(maps.Keys(env)) {
				if !read[name] && !used[name] {
					p = append(p, fmt.Sprintf("%s/%s: variable %s (from %s) is read by no code of %s", w.name, c.Name, name, env[name].from, svc))
				}
			}
		}
	}
	return p
}

// checkK8sSubcommands: a container that runs one of our binaries with a
// subcommand (the worker's migrate) runs one its main.go knows.
func checkK8sSubcommands(r *k8sRender, _ k8sCase) []string {
	var p []string
	for _, w := range r.workloads() {
		for _, c := range allContainers(&w.pod.Spec) {
			svc := k8sServiceOf(c)
			if svc == "" || len(c.Command) > 0 || len(c.Args) == 0 || strings.HasPrefix(c.Args[0], "-") {
				continue
			}
			src, err := os.ReadFile(filepath.Join("..", svc, "main.go"))
			if err != nil {
				return []string{err.Error()}
			}
			if !bytes.Contains(src, []byte(strconv.Quote(c.Args[0]))) {
				p = append(p, fmt.Sprintf("%s/%s: runs %s %s, a subcommand %s/main.go does not name", w.name, c.Name, svc, c.Args[0], svc))
			}
		}
	}
	return p
}

// secretKeysRead lists the keys of Secrets a container can see.
func secretKeysRead(r *k8sRender, spec *corev1.PodSpec, c corev1.Container) []string {
	var keys []string
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			keys = append(keys, e.ValueFrom.SecretKeyRef.Key)
		}
	}
	all := func(name string) {
		if s := r.secret(name); s != nil {
			keys = append(keys, slices.Collect(maps.Keys(secretData(s)))...)
		} else {
			keys = append(keys, "all of "+name)
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil {
			all(ef.SecretRef.Name)
		}
	}
	for _, m := range c.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				all(v.Secret.SecretName)
			}
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// checkK8sCredentials: each container sees only its own secrets, connects
// to PostgreSQL and NATS as its own user, with the password the server
// side sets for that user.
func checkK8sCredentials(r *k8sRender, kc k8sCase) []string {
	var p []string
	seen := map[string]bool{}
	for _, want := range k8sCredentials {
		w, ok := r.workload(want.workload)
		if !ok {
			continue
		}
		i := slices.IndexFunc(allContainers(&w.pod.Spec), func(c corev1.Container) bool { return c.Name == want.container })
		if i < 0 {
			p = append(p, fmt.Sprintf("%s: no container %s", want.workload, want.container))
			continue
		}
		seen[want.workload+"/"+want.container] = true
		c := allContainers(&w.pod.Spec)[i]
		for _, k := range secretKeysRead(r, &w.pod.Spec, c) {
			if !slices.Contains(want.keys, k) {
				p = append(p, fmt.Sprintf("%s/%s: can read the secret %s, want only %v", want.workload, want.container, k, want.keys))
			}
		}
		env, _ := r.containerEnv(c, kc.external)
		for _, u := range []struct{ variable, server, user string }{
			{"DATABASE_URL", "postgres", want.dbUser}, {"NATS_URL", "nats", want.natsUser}} {
			v, set := env[u.variable]
			if u.user == "" {
				if set {
					p = append(p, fmt.Sprintf("%s/%s: %s set, want none", want.workload, want.container, u.variable))
				}
				continue
			}
			got, err := url.Parse(v.value)
			if err != nil || got.User == nil {
				p = append(p, fmt.Sprintf("%s/%s: %s is no URL with a user (%v)", want.workload, want.container, u.variable, err))
				continue
			}
			if got.User.Username() != u.user {
				p = append(p, fmt.Sprintf("%s/%s: %s user %q, want %q", want.workload, want.container, u.variable, got.User.Username(), u.user))
				continue
			}
			holder := k8sPasswordHolders[u.server+":"+u.user]
			hw, ok := r.workload(holder.workload)
			if !ok {
				continue
			}
			henv, _ := r.containerEnv(hw.pod.Spec.Containers[0], kc.external)
			pw, _ := got.User.Password()
			if hv, ok := henv[holder.env]; !ok || hv.value != pw {
				p = append(p, fmt.Sprintf("%s/%s: %s's password is not the one %s sets for %s (its %s)",
					want.workload, want.container, u.variable, holder.workload, u.user, holder.env))
			}
		}
	}
	for _, w := range r.workloads() {
		for _, c := range allContainers(&w.pod.Spec) {
			if !seen[w.name+"/"+c.Name] {
				p = append(p, fmt.Sprintf("%s/%s: a container the credentials table does not know; say what it may read", w.name, c.Name))
			}
		}
	}
	return p
}

// checkK8sDependencyURLs: the addresses our services are given name a
// Service of the render and one of its ports.
func checkK8sDependencyURLs(r *k8sRender, kc k8sCase) []string {
	var p []string
	for _, w := range r.workloads() {
		for _, c := range allContainers(&w.pod.Spec) {
			if k8sServiceOf(c) == "" {
				continue
			}
			env, _ := r.containerEnv(c, kc.external)
			for _, variable := range []string{"REDIS_URL", "DATABASE_URL", "NATS_URL"} {
				v, ok := env[variable]
				if !ok {
					continue
				}
				u, err := url.Parse(v.value)
				if err != nil {
					p = append(p, fmt.Sprintf("%s/%s: %s: %v", w.name, c.Name, variable, err))
					continue
				}
				name, _, _ := strings.Cut(u.Hostname(), ".")
				port, _ := strconv.ParseInt(u.Port(), 10, 32)
				svc := r.service(name)
				if svc == nil || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return int64(sp.Port) == port }) {
					p = append(p, fmt.Sprintf("%s/%s: %s names %s, which is no Service port of the render", w.name, c.Name, variable, u.Host))
				}
			}
		}
	}
	return p
}

// serviceTargets is the container port a Service port reaches on w's pods.
func serviceTarget(sp corev1.ServicePort, w k8sWorkload) (int32, bool) {
	target := sp.TargetPort
	if target.Type == intstr.Int && target.IntVal == 0 {
		target = intstr.FromInt32(sp.Port)
	}
	for _, c := range w.pod.Spec.Containers {
		if n, ok := containerPort(c, target); ok {
			return n, true
		}
	}
	return 0, false
}

func checkK8sServices(r *k8sRender, _ k8sCase) []string {
	var p []string
	for _, svc := range r.services {
		var matched []k8sWorkload
		for _, w := range r.workloads() {
			if len(svc.Spec.Selector) > 0 && selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, w.pod.Labels) {
				matched = append(matched, w)
			}
		}
		if len(matched) == 0 {
			p = append(p, fmt.Sprintf("Service %s: selector %v matches no workload's pods", svc.Name, svc.Spec.Selector))
			continue
		}
		for _, sp := range svc.Spec.Ports {
			for _, w := range matched {
				if _, ok := serviceTarget(sp, w); !ok {
					p = append(p, fmt.Sprintf("Service %s port %d: targetPort %s is no container port of %s", svc.Name, sp.Port, sp.TargetPort.String(), w.name))
				}
			}
		}
	}
	for _, s := range r.statefulSets {
		if svc := r.service(s.Spec.ServiceName); svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
			p = append(p, fmt.Sprintf("StatefulSet %s: serviceName %q, want a headless Service of the render", s.Name, s.Spec.ServiceName))
		}
	}
	return p
}

// ingressHost is the host the checks send requests for: the first rule's,
// or any host when the rules name none.
func ingressHost(ing *networkingv1.Ingress) string {
	for _, rule := range ing.Spec.Rules {
		if rule.Host != "" {
			return rule.Host
		}
	}
	return "any.example"
}

// resultPrefix is the result server's RESULT_PATH_PREFIX.
func (r *k8sRender) resultPrefix(external map[string]bool) string {
	for _, s := range k8sServers {
		if s.name == "result" {
			if _, c, ok := r.serverContainer(s); ok {
				env, _ := r.containerEnv(c, external)
				return strings.TrimSuffix(env["RESULT_PATH_PREFIX"].value, "/")
			}
		}
	}
	return ""
}

func checkK8sIngress(r *k8sRender, kc k8sCase) []string {
	if len(r.ingresses) != 1 {
		return []string{fmt.Sprintf("%d Ingresses, want 1 (one host for every page)", len(r.ingresses))}
	}
	ing := r.ingresses[0]
	var p []string
	if ptrOr(ing.Spec.IngressClassName, "") == "" {
		p = append(p, "Ingress: no ingressClassName")
	}
	var backends []*networkingv1.IngressServiceBackend
	if b := ing.Spec.DefaultBackend; b != nil {
		backends = append(backends, b.Service)
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP != nil {
			for _, ip := range rule.HTTP.Paths {
				backends = append(backends, ip.Backend.Service)
			}
		}
	}
	for _, b := range backends {
		if b == nil {
			p = append(p, "Ingress: a backend that is no Service")
			continue
		}
		svc := r.service(b.Name)
		if svc == nil || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
			return (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Name == "" && sp.Port == b.Port.Number)
		}) {
			p = append(p, fmt.Sprintf("Ingress: backend %s port %+v is no Service port of the render", b.Name, b.Port))
		}
	}
	// The WebSocket stays silent between pings: ingress-nginx must not
	// close it first.
	for _, a := range []string{"nginx.ingress.kubernetes.io/proxy-read-timeout", "nginx.ingress.kubernetes.io/proxy-send-timeout"} {
		sec, err := strconv.Atoi(ing.Annotations[a])
		if err != nil || time.Duration(sec)*time.Second <= wsPingPeriod {
			p = append(p, fmt.Sprintf("Ingress: %s %q, want seconds above the ping period %v", a, ing.Annotations[a], wsPingPeriod))
		}
	}
	host := ingressHost(ing)
	prefix := r.resultPrefix(kc.external)
	for _, s := range k8sServers {
		w, c, ok := r.serverContainer(s)
		if !ok {
			continue
		}
		port, err := r.listenPort(s, c, kc.external)
		if err != nil {
			continue
		}
		for _, route := range s.routes {
			path := route
			if s.name == "result" {
				path = prefix + route
			}
			if path == "" {
				continue
			}
			b, ok := ingressRoute(ing, host, path)
			var got string
			if ok {
				got = b.Name
				svc := r.service(b.Name)
				reaches := false
				if svc != nil && selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, w.pod.Labels) {
					for _, sp := range svc.Spec.Ports {
						if (sp.Name == b.Port.Name && b.Port.Name != "") || sp.Port == b.Port.Number {
							n, ok := serviceTarget(sp, w)
							reaches = ok && n == port
						}
					}
				}
				if reaches {
					continue
				}
			}
			p = append(p, fmt.Sprintf("Ingress: GET %s%s goes to Service %q, want the %s server (port %d)", host, path, got, s.name, port))
		}
	}
	if kc.overlay {
		for _, rule := range ing.Spec.Rules {
			if rule.Host == "" {
				p = append(p, "Ingress: a rule without a host; the installation names its host")
				continue
			}
			if !slices.ContainsFunc(ing.Spec.TLS, func(tls networkingv1.IngressTLS) bool {
				return slices.Contains(tls.Hosts, rule.Host) && tls.SecretName != ""
			}) {
				p = append(p, fmt.Sprintf("Ingress: host %s has no TLS certificate", rule.Host))
			}
		}
	}
	return p
}

// checkK8sPublicURLs: an installation tells each server where browsers
// reach the other, on the Ingress's host, and whom to believe about
// client addresses.
func checkK8sPublicURLs(r *k8sRender, kc k8sCase) []string {
	if !kc.overlay || len(r.ingresses) != 1 {
		return nil
	}
	host := ingressHost(r.ingresses[0])
	prefix := r.resultPrefix(kc.external)
	var p []string
	want := map[string]map[string]string{
		"vote":   {"RESULT_URL": "https://" + host + prefix},
		"result": {"VOTE_URL": "https://" + host, "WS_ORIGINS": "https://" + host},
	}
	for _, s := range k8sServers {
		_, c, ok := r.serverContainer(s)
		if !ok {
			continue
		}
		env, _ := r.containerEnv(c, kc.external)
		for variable, w := range want[s.name] {
			if got := strings.TrimSuffix(env[variable].value, "/"); got != w {
				p = append(p, fmt.Sprintf("%s: %s %q, want %q", s.name, variable, got, w))
			}
		}
		if s.name != "vote" {
			continue
		}
		proxies := env["TRUSTED_PROXIES"].value
		if proxies == "" {
			p = append(p, "vote: TRUSTED_PROXIES unset: behind the Ingress every voter would have the controller's address")
		}
		for part := range strings.SplitSeq(proxies, ",") {
			if _, _, err := net.ParseCIDR(strings.TrimSpace(part)); err != nil && net.ParseIP(strings.TrimSpace(part)) == nil {
				p = append(p, fmt.Sprintf("vote: TRUSTED_PROXIES entry %q is no address or CIDR prefix", part))
			}
		}
	}
	return p
}

// checkK8sNetworkPolicies: the connections the system makes get through,
// no others.
func checkK8sNetworkPolicies(r *k8sRender, _ k8sCase) []string {
	ns := r.namespace()
	ingressController := k8sPeer{"ingress-nginx", map[string]string{"app.kubernetes.io/name": "ingress-nginx"}}
	prometheus := k8sPeer{"monitoring", map[string]string{"app.kubernetes.io/name": "prometheus"}}
	stranger := k8sPeer{"elsewhere", map[string]string{"app.kubernetes.io/name": "vote"}}
	ours := func(name string) k8sPeer { return k8sPeer{ns, map[string]string{"app.kubernetes.io/name": name}} }
	var p []string
	for _, tc := range []struct {
		fromName string
		from     k8sPeer
		to, port string
		want     bool
	}{
		{"the ingress controller", ingressController, "vote", "http", true},
		{"the ingress controller", ingressController, "result", "http", true},
		{"Prometheus", prometheus, "vote", "http", true},
		{"Prometheus", prometheus, "worker", "health", true},
		{"vote", ours("vote"), "redis", "redis", true},
		{"worker", ours("worker"), "redis", "redis", true},
		{"worker", ours("worker"), "postgres", "postgres", true},
		{"result", ours("result"), "postgres", "postgres", true},
		{"worker", ours("worker"), "nats", "client", true},
		{"result", ours("result"), "nats", "client", true},
		{"result", ours("result"), "redis", "redis", false},
		{"vote", ours("vote"), "postgres", "postgres", false},
		{"vote", ours("vote"), "nats", "client", false},
		{"the ingress controller", ingressController, "redis", "redis", false},
		{"the ingress controller", ingressController, "worker", "health", false},
		{"another pod of the namespace", ours("debug"), "vote", "http", false},
		{"another pod of the namespace", ours("debug"), "postgres", "postgres", false},
		{"a pod of another namespace", stranger, "redis", "redis", false},
		{"a pod of another namespace", stranger, "vote", "http", false},
	} {
		w, ok := r.workload(tc.to)
		if !ok {
			continue
		}
		for _, c := range w.pod.Spec.Containers {
			port, ok := containerPort(c, intstr.FromString(tc.port))
			if !ok {
				continue
			}
			if got := r.policyAllows(tc.from, w, c, port); got != tc.want {
				p = append(p, fmt.Sprintf("NetworkPolicies: %s → %s:%s allowed %v, want %v", tc.fromName, tc.to, tc.port, got, tc.want))
			}
		}
	}
	for _, np := range r.policies {
		if len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) == 0 {
			continue
		}
		if !slices.ContainsFunc(r.workloads(), func(w k8sWorkload) bool { return selects(&np.Spec.PodSelector, w.pod.Labels) }) {
			p = append(p, fmt.Sprintf("NetworkPolicy %s selects no workload's pods", np.Name))
		}
	}
	return p
}

// confDirectives reads a redis.conf: the last value of each directive.
func confDirectives(conf string) map[string]string {
	d := map[string]string{}
	for line := range strings.Lines(conf) {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		d[strings.ToLower(f[0])] = strings.Join(f[1:], " ")
	}
	return d
}

// onClaim reports whether dir lies on a volume of w's volumeClaimTemplates.
func (r *k8sRender) onClaim(w k8sWorkload, c corev1.Container, dir string) bool {
	for _, s := range r.statefulSets {
		if s.Name != w.name {
			continue
		}
		for _, m := range c.VolumeMounts {
			under := dir == m.MountPath || strings.HasPrefix(dir, strings.TrimSuffix(m.MountPath, "/")+"/")
			if under && slices.ContainsFunc(s.Spec.VolumeClaimTemplates, func(v corev1.PersistentVolumeClaim) bool { return v.Name == m.Name }) {
				return true
			}
		}
	}
	return false
}

// checkK8sPersistence: Redis keeps acknowledged votes across a restart
// (append-only on a persistent volume, never evicting) and PostgreSQL keeps
// its data on one.
func checkK8sPersistence(r *k8sRender, kc k8sCase) []string {
	var p []string
	if w, ok := r.workload("redis"); ok {
		c := w.pod.Spec.Containers[0]
		var conf string
		found := false
		for _, a := range append(slices.Clone(c.Command), c.Args...) {
			if strings.HasSuffix(a, ".conf") {
				conf, found = r.mountedFile(&w.pod.Spec, c, a)
			}
		}
		if !found {
			p = append(p, fmt.Sprintf("redis: runs with no redis.conf from a ConfigMap (command %v, args %v)", c.Command, c.Args))
		}
		d := confDirectives(conf)
		if d["appendonly"] != "yes" {
			p = append(p, fmt.Sprintf("redis: appendonly %q, want yes", d["appendonly"]))
		}
		if fs := d["appendfsync"]; fs != "always" && fs != "everysec" {
			p = append(p, fmt.Sprintf("redis: appendfsync %q, want always (or everysec)", fs))
		}
		if d["maxmemory-policy"] != "noeviction" {
			p = append(p, fmt.Sprintf("redis: maxmemory-policy %q, want noeviction (an evicted stream entry is a lost vote)", d["maxmemory-policy"]))
		}
		dir := d["dir"]
		if dir == "" {
			dir = c.WorkingDir
		}
		if !r.onClaim(w, c, dir) {
			p = append(p, fmt.Sprintf("redis: dir %q is on no persistent volume claim", dir))
		}
	}
	if w, ok := r.workload("postgres"); ok {
		c := w.pod.Spec.Containers[0]
		env, _ := r.containerEnv(c, kc.external)
		data := env["PGDATA"].value
		if data == "" {
			data = "/var/lib/postgresql/data"
		}
		if !r.onClaim(w, c, data) {
			p = append(p, fmt.Sprintf("postgres: PGDATA %q is on no persistent volume claim", data))
		}
	}
	return p
}

// checkK8sConfigCopies: the NATS server runs with the repository's
// nats.conf, and PostgreSQL's start runs deploy/postgres/roles.sh with
// its roles.sql beside it.
func checkK8sConfigCopies(r *k8sRender, _ k8sCase) []string {
	var p []string
	if w, ok := r.workload("nats"); ok {
		c := w.pod.Spec.Containers[0]
		args := append(slices.Clone(c.Command), c.Args...)
		i := slices.IndexFunc(args, func(a string) bool { return a == "-c" || a == "--config" })
		want, err := os.ReadFile("../nats.conf")
		if err != nil {
			return []string{err.Error()}
		}
		if i < 0 || i+1 == len(args) {
			p = append(p, fmt.Sprintf("nats: no -c in %v", args))
		} else if got, ok := r.mountedFile(&w.pod.Spec, c, args[i+1]); !ok || got != string(want) {
			p = append(p, fmt.Sprintf("nats: %s (mounted %v) is not the repository's nats.conf", args[i+1], ok))
		}
	}
	if w, ok := r.workload("postgres"); ok {
		c := w.pod.Spec.Containers[0]
		var cmd string
		if c.Lifecycle != nil && c.Lifecycle.PostStart != nil && c.Lifecycle.PostStart.Exec != nil {
			cmd = strings.Join(c.Lifecycle.PostStart.Exec.Command, " ")
		}
		script := regexp.MustCompile(`\S*/roles\.sh`).FindString(cmd)
		if script == "" {
			p = append(p, fmt.Sprintf("postgres: postStart %q runs no roles.sh", cmd))
		}
		for file, orig := range map[string]string{script: "../deploy/postgres/roles.sh",
			strings.TrimSuffix(script, ".sh") + ".sql": "../deploy/postgres/roles.sql"} {
			want, err := os.ReadFile(orig)
			if err != nil {
				return append(p, err.Error())
			}
			if got, ok := r.mountedFile(&w.pod.Spec, c, file); !ok || got != string(want) {
				p = append(p, fmt.Sprintf("postgres: %s (mounted %v) is not %s", file, ok, orig))
			}
		}
	}
	return p
}

// checkK8sInstallation: an overlay puts everything in its namespace, under
// the restricted Pod Security Standard, runs tagged images of one release,
// and (being an example in git) holds placeholder secrets only.
func checkK8sInstallation(r *k8sRender, kc k8sCase) []string {
	if !kc.overlay {
		return nil
	}
	var p []string
	if len(r.namespaces) != 1 {
		return []string{fmt.Sprintf("%d Namespaces, want 1", len(r.namespaces))}
	}
	ns := r.namespaces[0]
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		p = append(p, fmt.Sprintf("Namespace %s: pod-security.kubernetes.io/enforce %q, want restricted", ns.Name, got))
	}
	for _, o := range r.objects {
		if _, isNS := o.(*corev1.Namespace); !isNS && o.GetNamespace() != ns.Name {
			p = append(p, fmt.Sprintf("%s: namespace %q, want %q", o.GetName(), o.GetNamespace(), ns.Name))
		}
	}
	tags := map[string]bool{}
	for _, w := range r.workloads() {
		for _, c := range allContainers(&w.pod.Spec) {
			_, tag, _ := strings.Cut(filepath.Base(c.Image), ":")
			if (tag == "" || tag == "latest") && !strings.Contains(c.Image, "@sha256:") {
				p = append(p, fmt.Sprintf("%s/%s: image %q, want a tag of a release", w.name, c.Name, c.Image))
			}
			if k8sServiceOf(c) != "" {
				tags[tag] = true
			}
		}
	}
	if len(tags) > 1 {
		p = append(p, fmt.Sprintf("our images run tags %v, want one release", slices.Sorted(maps.Keys(tags))))
	}
	for _, s := range r.secrets {
		for k, v := range secretData(s) {
			if !strings.HasPrefix(v, "replace-me") {
				p = append(p, fmt.Sprintf("Secret %s: %s is no placeholder (replace-me…): real secrets stay out of git", s.Name, k))
			}
		}
	}
	return p
}
