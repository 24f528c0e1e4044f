// Command golinkerd models the per-update work of Linkerd's destination
// controller for one service port, to time it next to the engine.
//
//	golinkerd CLUSTER.json
//
// CLUSTER.json (written by benchmarks/suite_update.py) holds the service's
// EndpointSlices as kubectl prints them, the zone of each subscriber's node
// and a sequence of slice rewrites.  The model keeps, as Linkerd's port
// publisher does, a map of endpoint ID to address; per rewrite it copies
// the map, deletes the IDs the slice's previous version gave, adds the new
// version's addresses, then for each subscriber's filter key filters the
// set (any address without a zone hint: all; those hinted for the key's
// zone; none of them: all) and diffs the result against that key's
// previous set, calling the subscriber for a non-empty remove and add.
//
// It prints one JSON object: the number of rewrites, the median and mean
// milliseconds of one rewrite (from the slice object to the last callback),
// and the callbacks made by each rewrite.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"
)

// The parts of a discovery.k8s.io/v1 EndpointSlice the model reads.
type endpointSlice struct {
	Metadata struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"metadata"`
	AddressType string `json:"addressType"`
	Ports       []struct {
		Name *string `json:"name"`
		Port *int32  `json:"port"`
	} `json:"ports"`
	Endpoints []struct {
		Addresses  []string `json:"addresses"`
		Conditions struct {
			Ready *bool `json:"ready"`
		} `json:"conditions"`
		Zone      *string `json:"zone"`
		TargetRef *struct {
			Kind      string `json:"kind"`
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"targetRef"`
		Hints *struct {
			ForZones []struct {
				Name string `json:"name"`
			} `json:"forZones"`
		} `json:"hints"`
	} `json:"endpoints"`
}

type input struct {
	PortName string          `json:"portName"` // the Service port's name: the slice port to use
	Zones    []string        `json:"zones"`    // the zone of each subscriber's node
	Slices   []endpointSlice `json:"slices"`   // the initial slices
	Updates  []endpointSlice `json:"updates"`  // rewrites, in order
}

// id identifies a pod address, as Linkerd's PodID does.
type id struct {
	namespace, name, family string
}

type address struct {
	ip       string
	port     int32
	zone     string
	forZones []string
}

type addressSet map[id]*address

// publisher is a port publisher: the service port's addresses, the last
// version of each slice, and one filtered group per subscriber key.
type publisher struct {
	portName  string
	addresses addressSet
	slices    map[string]*endpointSlice
	groups    []*group
}

type group struct {
	zone      string
	snapshot  addressSet
	callbacks int
}

func (p *publisher) resolvePort(es *endpointSlice) (int32, bool) {
	for _, port := range es.Ports {
		if port.Name != nil && *port.Name == p.portName && port.Port != nil {
			return *port.Port, true
		}
	}
	return 0, false
}

// toAddresses converts a slice into the addresses of its ready pod endpoints.
func (p *publisher) toAddresses(es *endpointSlice) addressSet {
	out := make(addressSet)
	port, ok := p.resolvePort(es)
	if !ok {
		return out
	}
	for _, ep := range es.Endpoints {
		if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
			continue
		}
		if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
			continue
		}
		for _, ip := range ep.Addresses {
			addr := &address{ip: ip, port: port}
			if ep.Zone != nil {
				addr.zone = *ep.Zone
			}
			if ep.Hints != nil {
				addr.forZones = make([]string, len(ep.Hints.ForZones))
				for i, z := range ep.Hints.ForZones {
					addr.forZones[i] = z.Name
				}
			}
			out[id{ep.TargetRef.Namespace, ep.TargetRef.Name, es.AddressType}] = addr
		}
	}
	return out
}

// toIDs lists the IDs a slice's ready pod endpoints give.
func (p *publisher) toIDs(es *endpointSlice) []id {
	if _, ok := p.resolvePort(es); !ok {
		return nil
	}
	var ids []id
	for _, ep := range es.Endpoints {
		if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
			continue
		}
		if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
			ids = append(ids, id{ep.TargetRef.Namespace, ep.TargetRef.Name, es.AddressType})
		}
	}
	return ids
}

func sliceKey(es *endpointSlice) string {
	return es.Metadata.Namespace + "/" + es.Metadata.Name
}

// write applies one version of a slice and publishes the diffs.
func (p *publisher) write(es *endpointSlice) {
	updated := make(addressSet, len(p.addresses))
	for k, v := range p.addresses {
		updated[k] = v
	}
	if old, ok := p.slices[sliceKey(es)]; ok {
		for _, k := range p.toIDs(old) {
			delete(updated, k)
		}
	}
	for k, v := range p.toAddresses(es) {
		updated[k] = v
	}
	p.slices[sliceKey(es)] = es
	p.addresses = updated
	for _, g := range p.groups {
		g.publish(updated)
	}
}

func (g *group) filter(all addressSet) addressSet {
	for _, addr := range all {
		if len(addr.forZones) == 0 {
			return all
		}
	}
	filtered := make(addressSet)
	for k, addr := range all {
		for _, z := range addr.forZones {
			if z == g.zone {
				filtered[k] = addr
				break
			}
		}
	}
	if len(filtered) == 0 {
		return all
	}
	return filtered
}

func (g *group) publish(all addressSet) {
	filtered := g.filter(all)
	add, remove := make(addressSet), make(addressSet)
	for k, addr := range filtered {
		if old, ok := g.snapshot[k]; !ok || changed(old, addr) {
			add[k] = addr
		}
	}
	for k, addr := range g.snapshot {
		if _, ok := filtered[k]; !ok {
			remove[k] = addr
		}
	}
	g.snapshot = filtered
	if len(remove) > 0 {
		g.callbacks++
	}
	if len(add) > 0 {
		g.callbacks++
	}
}

// changed says whether a subscriber must be sent an address again: its
// address, port or zone hints (compared sorted) differ.
func changed(old, new *address) bool {
	return old.ip != new.ip || old.port != new.port || !sameZones(old.forZones, new.forZones)
}

func sameZones(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 1 {
		return a[0] == b[0]
	}
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (p *publisher) callbacks() int {
	total := 0
	for _, g := range p.groups {
		total += g.callbacks
	}
	return total
}

func run(in *input) (map[string]interface{}, error) {
	if len(in.Updates) == 0 {
		return nil, fmt.Errorf("no updates to time")
	}
	p := &publisher{portName: in.PortName, addresses: make(addressSet), slices: make(map[string]*endpointSlice)}
	// The initial state, as the publisher holds it once every slice is added
	// (without a copy of the set per slice: that is setup, not timed).
	for i := range in.Slices {
		for k, v := range p.toAddresses(&in.Slices[i]) {
			p.addresses[k] = v
		}
		p.slices[sliceKey(&in.Slices[i])] = &in.Slices[i]
	}
	for _, zone := range in.Zones {
		g := &group{zone: zone}
		g.snapshot = g.filter(p.addresses)
		p.groups = append(p.groups, g)
	}
	millis := make([]float64, len(in.Updates))
	calls := make([]int, len(in.Updates))
	total := 0.0
	for i := range in.Updates {
		before := p.callbacks()
		start := time.Now()
		p.write(&in.Updates[i])
		millis[i] = float64(time.Since(start).Nanoseconds()) / 1e6
		calls[i] = p.callbacks() - before
		total += millis[i]
	}
	sorted := append([]float64(nil), millis...)
	sort.Float64s(sorted)
	n := len(sorted)
	median := sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return map[string]interface{}{
		"updates":   n,
		"endpoints": len(p.addresses),
		"median_ms": median,
		"mean_ms":   total / float64(n),
		"callbacks": calls,
	}, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: golinkerd CLUSTER.json")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "golinkerd:", err)
		os.Exit(1)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fmt.Fprintf(os.Stderr, "golinkerd: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	out, err := run(&in)
	if err != nil {
		fmt.Fprintf(os.Stderr, "golinkerd: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "golinkerd:", err)
		os.Exit(1)
	}
}
