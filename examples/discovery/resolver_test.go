package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/swim-go/swim"
)

func member(t *testing.T, name string, s Service) swim.Node {
	t.Helper()
	meta, err := encodeService(s)
	require.NoError(t, err)
	return swim.Node{Name: name, Addr: net.IPv4(10, 0, 0, 1), Port: 7946, Meta: meta, State: swim.StateAlive}
}

func TestServiceMetadataRoundTrip(t *testing.T) {
	s := Service{Name: "api", Addr: "10.0.0.1:8080", Version: "1.4.2"}
	b, err := encodeService(s)
	require.NoError(t, err)
	require.Equal(t, "a=10.0.0.1%3A8080&s=api&v=1.4.2", string(b), "compact and stable")
	got, err := decodeService(b)
	require.NoError(t, err)
	require.Equal(t, s, got)

	_, err = decodeService(nil)
	require.ErrorIs(t, err, errNoService)
	_, err = decodeService([]byte("role=db"))
	require.ErrorIs(t, err, errNoService, "metadata of another kind is not a service")
	_, err = decodeService([]byte("%zz"))
	require.Error(t, err)
	_, err = encodeService(Service{Name: "api", Version: strings.Repeat("9", 600)})
	require.Error(t, err, "over the metadata limit")
	b, err = encodeService(Service{})
	require.NoError(t, err)
	require.Empty(t, b, "a client advertises nothing")
}

func TestResolverFollowsEvents(t *testing.T) {
	r := NewResolver()
	r.NotifyJoin(member(t, "api-1", Service{"api", "10.0.0.1:8080", "1.0"}))
	r.NotifyJoin(member(t, "api-2", Service{"api", "10.0.0.2:8080", "1.0"}))
	r.NotifyJoin(member(t, "db-1", Service{"db", "10.0.0.3:5432", "15"}))
	r.NotifyJoin(member(t, "client", Service{}))
	require.Equal(t, map[string][]Endpoint{
		"api": {{Node: "api-1", Addr: "10.0.0.1:8080", Version: "1.0"}, {Node: "api-2", Addr: "10.0.0.2:8080", Version: "1.0"}},
		"db":  {{Node: "db-1", Addr: "10.0.0.3:5432", Version: "15"}},
	}, r.Services(nil))

	r.NotifyUpdate(member(t, "api-2", Service{"api", "10.0.0.2:8080", "1.1"}))
	require.Equal(t, "1.1", r.Healthy("api", nil)[1].Version, "an upgrade replaces the endpoint")

	suspect := map[string]bool{"api-1": true}
	require.Equal(t, []Endpoint{{Node: "api-2", Addr: "10.0.0.2:8080", Version: "1.1"}}, r.Healthy("api", suspect))
	require.True(t, r.Services(suspect)["api"][0].Suspect, "a suspect is listed, marked")

	dead := member(t, "api-1", Service{"api", "10.0.0.1:8080", "1.0"})
	dead.State = swim.StateDead
	r.NotifyLeave(dead)
	r.NotifyUpdate(member(t, "db-1", Service{}))
	require.Equal(t, map[string][]Endpoint{"api": {{Node: "api-2", Addr: "10.0.0.2:8080", Version: "1.1"}}}, r.Services(nil),
		"a failed member and one that stopped advertising are gone")
	require.Nil(t, r.Healthy("db", nil))
}

func TestResolverConcurrentUse(t *testing.T) {
	r := NewResolver()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				n := member(t, fmt.Sprintf("n-%d-%d", g, i%10), Service{"api", "10.0.0.1:1", fmt.Sprint(i)})
				r.NotifyJoin(n)
				r.Healthy("api", nil)
				if i%3 == 0 {
					r.NotifyLeave(n)
				}
			}
		}()
	}
	wg.Wait()
	require.LessOrEqual(t, len(r.Services(nil)["api"]), 40)
}

func TestHTTPEndpoints(t *testing.T) {
	r := NewResolver()
	r.NotifyJoin(member(t, "api-1", Service{"api", "10.0.0.1:8080", "1.0"}))
	r.NotifyJoin(member(t, "api-2", Service{"api", "10.0.0.2:8080", "1.0"}))
	srv := httptest.NewServer(handler(r, func() map[string]bool { return map[string]bool{"api-2": true} }))
	defer srv.Close()
	get := func(path string, v any) int {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		if v != nil {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
		}
		return resp.StatusCode
	}
	var all map[string][]Endpoint
	require.Equal(t, http.StatusOK, get("/services", &all))
	require.Len(t, all["api"], 2)
	require.True(t, all["api"][1].Suspect)
	var healthy []Endpoint
	require.Equal(t, http.StatusOK, get("/services/api", &healthy))
	require.Equal(t, []Endpoint{{Node: "api-1", Addr: "10.0.0.1:8080", Version: "1.0"}}, healthy)
	var none []Endpoint
	require.Equal(t, http.StatusOK, get("/services/nothing", &none))
	require.Empty(t, none)
	require.NotNil(t, none, "an unknown service is an empty list, not null")
}

// The narrated demo runs to the end on loopback: discovery, a rolling upgrade, a crash and
// a graceful stop, each seen by the resolver.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets, several seconds")
	}
	var out strings.Builder
	require.NoError(t, runDemo(&out))
	require.Contains(t, out.String(), "summary: discovered 6 instances")
}
