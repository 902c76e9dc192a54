// NodeList: an immutable list of nodes whose storage consecutive cluster views share.
//
// rosterd republishes its view for every batch of heartbeats. With the nodes in one vector,
// each publish copied 10,000 worker pointers into the new view (and as many into the groups),
// and released as many when the old view went: most of rosterd's CPU at 10,000 workers
// (docs/scale.md, "Publishing in O(changed)"). A NodeList keeps its nodes in chunks of about
// kChunkSize that lists share when a change did not touch them; Apply() copies only the chunks
// a batch touches. Positional access stays O(1) through an index of pointers into the chunks,
// rebuilt on Apply() as a plain copy of pointers, without touching a reference count.
//
// The nodes of a view's lists are sorted by address (FindSorted() and Apply() rely on it); a
// list built from a vector keeps the order it is given.
//
// Thread-safety: immutable after construction; copies share chunks and may be read from any
// thread.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <vector>

#include "absl/strings/string_view.h"
#include "cluster/node_info.h"

namespace roster::cluster {

// One node's change in a batch: before == null for an added node, after == null for a removed
// one.
struct NodeChange {
  NodeInfoPtr before;
  NodeInfoPtr after;
};

class NodeList {
 public:
  // Nodes per chunk when a list is built; Apply() splits a chunk grown past twice this.
  static constexpr size_t kChunkSize = 64;

  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = NodeInfoPtr;
    using difference_type = std::ptrdiff_t;
    using pointer = const NodeInfoPtr*;
    using reference = const NodeInfoPtr&;

    const_iterator() = default;

    reference operator*() const { return **at_; }
    pointer operator->() const { return *at_; }
    reference operator[](difference_type n) const { return *at_[n]; }
    const_iterator& operator++() { return ++at_, *this; }
    const_iterator operator++(int) { return const_iterator(at_++); }
    const_iterator& operator--() { return --at_, *this; }
    const_iterator operator--(int) { return const_iterator(at_--); }
    const_iterator& operator+=(difference_type n) { return at_ += n, *this; }
    const_iterator& operator-=(difference_type n) { return at_ -= n, *this; }
    friend const_iterator operator+(const_iterator it, difference_type n) { return it += n; }
    friend const_iterator operator+(difference_type n, const_iterator it) { return it += n; }
    friend const_iterator operator-(const_iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(const_iterator a, const_iterator b) { return a.at_ - b.at_; }
    friend bool operator==(const_iterator a, const_iterator b) { return a.at_ == b.at_; }
    friend bool operator!=(const_iterator a, const_iterator b) { return a.at_ != b.at_; }
    friend bool operator<(const_iterator a, const_iterator b) { return a.at_ < b.at_; }
    friend bool operator>(const_iterator a, const_iterator b) { return a.at_ > b.at_; }
    friend bool operator<=(const_iterator a, const_iterator b) { return a.at_ <= b.at_; }
    friend bool operator>=(const_iterator a, const_iterator b) { return a.at_ >= b.at_; }

   private:
    friend class NodeList;
    explicit const_iterator(const NodeInfoPtr* const* at) : at_(at) {}
    const NodeInfoPtr* const* at_ = nullptr;
  };
  using value_type = NodeInfoPtr;
  using size_type = size_t;
  using difference_type = std::ptrdiff_t;
  using reference = const NodeInfoPtr&;
  using const_reference = const NodeInfoPtr&;
  using iterator = const_iterator;

  NodeList() = default;
  NodeList(std::initializer_list<NodeInfoPtr> nodes);
  explicit NodeList(std::vector<NodeInfoPtr> nodes);

  size_t size() const { return index_.size(); }
  bool empty() const { return index_.empty(); }
  const NodeInfoPtr& operator[](size_t i) const { return *index_[i]; }
  const NodeInfoPtr& front() const { return *index_.front(); }
  const NodeInfoPtr& back() const { return *index_.back(); }
  const_iterator begin() const { return const_iterator(index_.data()); }
  const_iterator end() const { return const_iterator(index_.data() + index_.size()); }

  // In a list sorted by address: the node with `address`, or null.
  NodeInfoPtr FindSorted(absl::string_view address) const;

  // This list (sorted by address) with `changes` applied, in any order: an added or updated
  // node takes its address's place, a removed one leaves; the last change of an address wins.
  // The result shares every chunk no change falls into.
  NodeList Apply(const std::vector<NodeChange>& changes) const;

  // How many chunks this list has, and how many of them `other` holds too (tests and
  // benchmarks).
  size_t chunk_count() const { return chunks_.size(); }
  size_t SharedChunks(const NodeList& other) const;

  // The same nodes in the same order.
  friend bool operator==(const NodeList& a, const NodeList& b);
  friend bool operator!=(const NodeList& a, const NodeList& b) { return !(a == b); }

 private:
  using Chunk = std::vector<NodeInfoPtr>;

  // Appends `nodes` as one chunk, or several of kChunkSize when it grew past twice that; a
  // small chunk joins the one before it. An empty one is dropped.
  void AppendChunk(Chunk nodes);
  void RebuildIndex();

  std::vector<std::shared_ptr<const Chunk>> chunks_;
  // Every node, in order: pointers into the chunks, which this list keeps alive and never
  // changes.
  std::vector<const NodeInfoPtr*> index_;
};

}  // namespace roster::cluster
