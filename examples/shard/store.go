package main

import (
	"bytes"
	"sync"
)

// store is the keys one instance holds, as primary or second replica.
type store struct {
	mu sync.Mutex
	m  map[string]entry
}

// entry is one stored value. copiedTo is the second replica this instance, as primary, last
// copied the value to: rebalancing copies again only when the ring names another one.
type entry struct {
	value    []byte
	copiedTo string
}

// held is an entry as it was when rebalancing read it, with its key.
type held struct {
	key string
	entry
}

func (s *store) get(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	return e.value, ok
}

// put stores value. The value it replaces, if different, was copied to nobody.
func (s *store) put(key string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if !bytes.Equal(e.value, value) {
		e = entry{value: value}
	}
	s.m[key] = e
}

// putIfAbsent stores a value read from the replica copiedTo, unless a write got here first.
func (s *store) putIfAbsent(key string, value []byte, copiedTo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; !ok {
		s.m[key] = entry{value: value, copiedTo: copiedTo}
	}
}

// markCopied records that value reached the replica to, unless it changed meanwhile.
func (s *store) markCopied(key string, value []byte, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && bytes.Equal(e.value, value) {
		e.copiedTo = to
		s.m[key] = e
	}
}

// deleteIf drops key if it still holds value: a write that came in while the value was being
// handed off must not be lost with it.
func (s *store) deleteIf(key string, value []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && bytes.Equal(e.value, value) {
		delete(s.m, key)
		return true
	}
	return false
}

// all returns a copy of every entry, so rebalancing can talk to other members without
// holding the lock.
func (s *store) all() []held {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]held, 0, len(s.m))
	for k, e := range s.m {
		out = append(out, held{k, e})
	}
	return out
}

func (s *store) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
