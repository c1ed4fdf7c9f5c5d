package e2e

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// The helpers of k8s_test.go: rendering a kustomization with kustomize's
// own Go API, decoding every object strictly into its k8s.io/api type, and
// answering the questions the checks ask of the result (what a container's
// environment holds, which Service a request path reaches, whether a
// NetworkPolicy lets one pod talk to another).

// renderKustomization runs kustomize on dir as `kustomize build` does (its
// default options, so also its load restrictor) and returns each object as
// YAML.
func renderKustomization(t *testing.T, dir string) [][]byte {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var docs [][]byte
	for _, res := range m.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			t.Fatalf("kustomize build %s: %s: %v", dir, res.CurId(), err)
		}
		docs = append(docs, b)
	}
	return docs
}

// k8sDecoder decodes the kinds the manifests may hold, strictly: an unknown
// or duplicate field, an unknown kind or a value of the wrong type is an
// error, as the API server's strict field validation makes it.
var k8sDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme,
		policyv1.AddToScheme, autoscalingv2.AddToScheme, networkingv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// k8sRender is a rendered kustomization, each object in its k8s.io/api type.
type k8sRender struct {
	objects      []metav1.Object
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	configMaps   []*corev1.ConfigMap
	secrets      []*corev1.Secret
	namespaces   []*corev1.Namespace
	pdbs         []*policyv1.PodDisruptionBudget
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	ingresses    []*networkingv1.Ingress
	policies     []*networkingv1.NetworkPolicy
}

// decodeK8s decodes every document strictly; a kind the manifests have no
// business holding is an error too.
func decodeK8s(docs [][]byte) (*k8sRender, error) {
	r := &k8sRender{}
	for _, doc := range docs {
		obj, gvk, err := k8sDecoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", docName(doc), err)
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			r.deployments = append(r.deployments, o)
		case *appsv1.StatefulSet:
			r.statefulSets = append(r.statefulSets, o)
		case *corev1.Service:
			r.services = append(r.services, o)
		case *corev1.ConfigMap:
			r.configMaps = append(r.configMaps, o)
		case *corev1.Secret:
			r.secrets = append(r.secrets, o)
		case *corev1.Namespace:
			r.namespaces = append(r.namespaces, o)
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas = append(r.hpas, o)
		case *networkingv1.Ingress:
			r.ingresses = append(r.ingresses, o)
		case *networkingv1.NetworkPolicy:
			r.policies = append(r.policies, o)
		default:
			return nil, fmt.Errorf("unexpected kind %s", gvk)
		}
		r.objects = append(r.objects, obj.(metav1.Object))
	}
	return r, nil
}

// docName names a document for an error: its kind and name, read leniently.
func docName(doc []byte) string {
	var head struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return "a document that is no YAML object"
	}
	return head.Kind + " " + head.Name
}

// k8sWorkload is a Deployment or a StatefulSet.
type k8sWorkload struct {
	kind, name string
	replicas   *int32
	selector   *metav1.LabelSelector
	pod        *corev1.PodTemplateSpec
}

func (r *k8sRender) workloads() []k8sWorkload {
	var ws []k8sWorkload
	for _, d := range r.deployments {
		ws = append(ws, k8sWorkload{"Deployment", d.Name, d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template})
	}
	for _, s := range r.statefulSets {
		ws = append(ws, k8sWorkload{"StatefulSet", s.Name, s.Spec.Replicas, s.Spec.Selector, &s.Spec.Template})
	}
	return ws
}

func (r *k8sRender) workload(name string) (k8sWorkload, bool) {
	for _, w := range r.workloads() {
		if w.name == name {
			return w, true
		}
	}
	return k8sWorkload{}, false
}

func (r *k8sRender) configMap(name string) *corev1.ConfigMap {
	for _, c := range r.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (r *k8sRender) secret(name string) *corev1.Secret {
	for _, s := range r.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (r *k8sRender) service(name string) *corev1.Service {
	for _, s := range r.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// namespace is where the objects land: the overlay's, or "default" for
// objects that name none.
func (r *k8sRender) namespace() string {
	for _, o := range r.objects {
		if o.GetNamespace() != "" {
			return o.GetNamespace()
		}
	}
	return "default"
}

// selects reports whether sel selects pods labelled l; a selector that
// does not parse selects nothing.
func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(l))
}

// allContainers lists init containers first, as they run.
func allContainers(pod *corev1.PodSpec) []corev1.Container {
	return append(slices.Clone(pod.InitContainers), pod.Containers...)
}

// k8sServiceOf names the service of ours whose image c runs ("" for
// Redis, PostgreSQL and NATS): the image ghcr.io/livevote/<service>.
func k8sServiceOf(c corev1.Container) string {
	name, _, _ := strings.Cut(path.Base(c.Image), ":")
	if !strings.HasPrefix(c.Image, "ghcr.io/livevote/") {
		return ""
	}
	return name
}

// envValue is one variable of a container's environment as the kubelet
// would set it; from names where it came from.
type envValue struct {
	value string
	from  string
}

// envVarRef matches the kubelet's $(VAR) references in env values,
// commands and arguments.
var envVarRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// containerEnv computes c's environment as the kubelet does: envFrom, then
// env in order, expanding $(VAR) from what is defined so far. Values from
// a Secret the render does not hold (an overlay supplies it) are "x".
// It returns the problems found on the way: a reference to a ConfigMap,
// Secret or key that is not there, a $(VAR) of nothing defined before it
// (the kubelet would leave the text as it is).
func (r *k8sRender) containerEnv(c corev1.Container, external map[string]bool) (map[string]envValue, []string) {
	env := map[string]envValue{}
	var problems []string
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm := r.configMap(ef.ConfigMapRef.Name)
			if cm == nil {
				if !optional(ef.ConfigMapRef.Optional) {
					problems = append(problems, fmt.Sprintf("envFrom: ConfigMap %q is not in the render", ef.ConfigMapRef.Name))
				}
				continue
			}
			for k, v := range cm.Data {
				env[ef.Prefix+k] = envValue{v, "ConfigMap " + cm.Name}
			}
		case ef.SecretRef != nil:
			s := r.secret(ef.SecretRef.Name)
			if s == nil {
				if !optional(ef.SecretRef.Optional) && !external[ef.SecretRef.Name] {
					problems = append(problems, fmt.Sprintf("envFrom: Secret %q is not in the render", ef.SecretRef.Name))
				}
				continue
			}
			for k, v := range secretData(s) {
				env[ef.Prefix+k] = envValue{v, "Secret " + s.Name}
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			v := envVarRef.ReplaceAllStringFunc(e.Value, func(m string) string {
				name := envVarRef.FindStringSubmatch(m)[1]
				if d, ok := env[name]; ok {
					return d.value
				}
				problems = append(problems, fmt.Sprintf("env %s: $(%s) names no variable defined before it", e.Name, name))
				return m
			})
			env[e.Name] = envValue{v, "value"}
			continue
		}
		switch vf := e.ValueFrom; {
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			s := r.secret(ref.Name)
			switch {
			case s == nil && external[ref.Name]:
				env[e.Name] = envValue{"x", "Secret " + ref.Name}
			case s == nil:
				if !optional(ref.Optional) {
					problems = append(problems, fmt.Sprintf("env %s: Secret %q is not in the render", e.Name, ref.Name))
				}
			default:
				v, ok := secretData(s)[ref.Key]
				if !ok && !optional(ref.Optional) {
					problems = append(problems, fmt.Sprintf("env %s: Secret %q has no key %q", e.Name, ref.Name, ref.Key))
				}
				env[e.Name] = envValue{v, "Secret " + ref.Name}
			}
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			cm := r.configMap(ref.Name)
			if cm == nil {
				if !optional(ref.Optional) {
					problems = append(problems, fmt.Sprintf("env %s: ConfigMap %q is not in the render", e.Name, ref.Name))
				}
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok && !optional(ref.Optional) {
				problems = append(problems, fmt.Sprintf("env %s: ConfigMap %q has no key %q", e.Name, ref.Name, ref.Key))
			}
			env[e.Name] = envValue{v, "ConfigMap " + cm.Name}
		case vf.ResourceFieldRef != nil:
			env[e.Name] = envValue{"", "resource " + vf.ResourceFieldRef.Resource}
		case vf.FieldRef != nil:
			env[e.Name] = envValue{"", "field " + vf.FieldRef.FieldPath}
		}
	}
	return env, problems
}

func optional(b *bool) bool { return b != nil && *b }

// secretData is a Secret's data, stringData included (kustomize writes
// data; a hand-written Secret may use either).
func secretData(s *corev1.Secret) map[string]string {
	m := map[string]string{}
	for k, v := range s.Data {
		m[k] = string(v)
	}
	for k, v := range s.StringData {
		m[k] = v
	}
	return m
}

// containerPort resolves a probe's or a Service's port (a number or a
// container port's name) to a port c declares.
func containerPort(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// addrPort is the port of a listen address such as ":8080".
func addrPort(addr string) (int32, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(p, 10, 32)
	return int32(n), err
}

// mountedFile is the content of the file at file in container c of pod,
// when it comes from a ConfigMap volume of the render.
func (r *k8sRender) mountedFile(pod *corev1.PodSpec, c corev1.Container, file string) (string, bool) {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm := r.configMap(v.ConfigMap.Name)
			if cm == nil {
				return "", false
			}
			key := rel
			for _, it := range v.ConfigMap.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
			s, ok := cm.Data[key]
			return s, ok
		}
	}
	return "", false
}

// ingressRoute is the Service and port that ing sends a request for
// host and p to, as the Ingress specification resolves it: the rules of
// that host (or of any host), the longest matching path, Exact before
// Prefix. A Prefix matches whole path elements: /results matches
// /results and /results/ws, not /resultsx.
func ingressRoute(ing *networkingv1.Ingress, host, p string) (*networkingv1.IngressServiceBackend, bool) {
	var best *networkingv1.HTTPIngressPath
	bestLen, bestExact := -1, false
	for _, rule := range ing.Spec.Rules {
		if (rule.Host != "" && rule.Host != host) || rule.HTTP == nil {
			continue
		}
		for i := range rule.HTTP.Paths {
			ip := &rule.HTTP.Paths[i]
			exact := ip.PathType != nil && *ip.PathType == networkingv1.PathTypeExact
			if !ingressPathMatches(ip.Path, exact, p) {
				continue
			}
			if l := len(ip.Path); l > bestLen || (l == bestLen && exact && !bestExact) {
				best, bestLen, bestExact = ip, l, exact
			}
		}
	}
	if best == nil {
		if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil {
			return b.Service, true
		}
		return nil, false
	}
	return best.Backend.Service, best.Backend.Service != nil
}

func ingressPathMatches(rulePath string, exact bool, p string) bool {
	if exact {
		return rulePath == p
	}
	prefix := strings.Split(strings.Trim(rulePath, "/"), "/")
	elems := strings.Split(strings.Trim(p, "/"), "/")
	if prefix[0] == "" {
		return true
	}
	return len(elems) >= len(prefix) && slices.Equal(prefix, elems[:len(prefix)])
}

// k8sPeer is a pod that opens a connection: its namespace's labels and
// its own.
type k8sPeer struct {
	namespace string
	labels    map[string]string
}

// policyAllows reports whether the render's NetworkPolicies let from
// connect to port of a pod of to, as a network plugin that enforces them
// would: a pod that no policy selects accepts everything; one that some
// select accepts what one of their ingress rules allows. ipBlock peers
// are taken to match no pod.
func (r *k8sRender) policyAllows(from k8sPeer, to k8sWorkload, c corev1.Container, port int32) bool {
	ns := r.namespace()
	isolated := false
	for _, np := range r.policies {
		if !selects(&np.Spec.PodSelector, to.pod.Labels) || !policyHasIngress(np) {
			continue
		}
		isolated = true
		for _, rule := range np.Spec.Ingress {
			if peersMatch(rule.From, ns, from) && portsMatch(rule.Ports, c, port) {
				return true
			}
		}
	}
	return !isolated
}

func policyHasIngress(np *networkingv1.NetworkPolicy) bool {
	return len(np.Spec.PolicyTypes) == 0 || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
}

func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNS string, from k8sPeer) bool {
	if len(peers) == 0 {
		return true
	}
	nsLabels := map[string]string{"kubernetes.io/metadata.name": from.namespace}
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
		case p.NamespaceSelector != nil && p.PodSelector != nil:
			if selects(p.NamespaceSelector, nsLabels) && selects(p.PodSelector, from.labels) {
				return true
			}
		case p.NamespaceSelector != nil:
			if selects(p.NamespaceSelector, nsLabels) {
				return true
			}
		case p.PodSelector != nil:
			if from.namespace == policyNS && selects(p.PodSelector, from.labels) {
				return true
			}
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, c corev1.Container, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.String:
			// A named port is the destination pod's.
			if n, ok := containerPort(c, *p.Port); ok && n == port {
				return true
			}
		case p.Port.IntVal == port || (p.EndPort != nil && p.Port.IntVal <= port && port <= *p.EndPort):
			return true
		}
	}
	return false
}
