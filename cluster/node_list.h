// NodeList: an immutable list of nodes whose storage consecutive cluster views share.
//
// rosterd republishes its view for every batch of heartbeats. With the nodes in one vector,
// each publish copied 10,000 worker pointers into the new view (and as many into the groups),
// and released as many when the old view went: most of rosterd's CPU at 10,000 workers
// (docs/scale.md, "Publishing in O(changed)"). A NodeList keeps its nodes in chunks of about
// kChunkSize that lists share when a change did not touch them; Apply() copies only the chunks
// a batch touches, so a publish costs O(changed nodes + chunks): at 10,000 nodes, 157 chunk
// pointers instead of 10,000 node pointers. The table of chunks is itself shared: a copy of a
// list (a view's group that no change touched) is one reference count. Positional access finds
// a position's chunk by a binary search over the chunks' offsets; iterators step from chunk to
// chunk.
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
#include <optional>
#include <utility>
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
  struct Table;  // below

 public:
  // Nodes per chunk when a list is built; Apply() splits a chunk grown past twice this.
  static constexpr size_t kChunkSize = 64;

  // Walks the chunks: ++ and -- step within a chunk and on to the next; += and [] find the
  // chunk of the new position by binary search over the chunks' offsets. An iterator refers to
  // its list: moving or destroying the list invalidates it.
  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = NodeInfoPtr;
    using difference_type = std::ptrdiff_t;
    using pointer = const NodeInfoPtr*;
    using reference = const NodeInfoPtr&;

    const_iterator() = default;

    reference operator*() const { return *at_; }
    pointer operator->() const { return at_; }
    reference operator[](difference_type n) const { return (*list_)[pos_ + n]; }
    const_iterator& operator++() {
      ++pos_;
      if (++at_ == chunk_end_ && pos_ < list_->size()) Seek(chunk_ + 1);
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    const_iterator& operator--() {
      if (pos_-- == table_->offsets[chunk_]) {  // from a chunk's first node to the one before
        Seek(chunk_ - 1);
        at_ = chunk_end_;
      }
      --at_;
      return *this;
    }
    const_iterator operator--(int) {
      const_iterator old = *this;
      --*this;
      return old;
    }
    const_iterator& operator+=(difference_type n) { return *this = list_->At(pos_ + n); }
    const_iterator& operator-=(difference_type n) { return *this = list_->At(pos_ - n); }
    friend const_iterator operator+(const_iterator it, difference_type n) { return it += n; }
    friend const_iterator operator+(difference_type n, const_iterator it) { return it += n; }
    friend const_iterator operator-(const_iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(const_iterator a, const_iterator b) {
      return static_cast<difference_type>(a.pos_) - static_cast<difference_type>(b.pos_);
    }
    friend bool operator==(const_iterator a, const_iterator b) { return a.pos_ == b.pos_; }
    friend bool operator!=(const_iterator a, const_iterator b) { return a.pos_ != b.pos_; }
    friend bool operator<(const_iterator a, const_iterator b) { return a.pos_ < b.pos_; }
    friend bool operator>(const_iterator a, const_iterator b) { return a.pos_ > b.pos_; }
    friend bool operator<=(const_iterator a, const_iterator b) { return a.pos_ <= b.pos_; }
    friend bool operator>=(const_iterator a, const_iterator b) { return a.pos_ >= b.pos_; }

   private:
    friend class NodeList;
    // At the first node of chunk `chunk`.
    void Seek(size_t chunk) {
      chunk_ = chunk;
      const Chunk& nodes = *table_->chunks[chunk];
      at_ = nodes.data();
      chunk_end_ = at_ + nodes.size();
    }

    const NodeList* list_ = nullptr;
    const Table* table_ = nullptr;  // list_'s
    size_t pos_ = 0;                // in the list
    size_t chunk_ = 0;              // the chunk holding pos_ (the last chunk at end())
    const NodeInfoPtr* at_ = nullptr;
    const NodeInfoPtr* chunk_end_ = nullptr;
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

  size_t size() const { return table().size; }
  bool empty() const { return size() == 0; }
  // O(log chunks).
  const NodeInfoPtr& operator[](size_t i) const;
  const NodeInfoPtr& front() const { return table().chunks.front()->front(); }
  const NodeInfoPtr& back() const { return table().chunks.back()->back(); }
  const_iterator begin() const { return At(0); }
  const_iterator end() const { return At(size()); }

  // In a list sorted by address: the node with `address`, or null.
  NodeInfoPtr FindSorted(absl::string_view address) const;

  // This list (sorted by address) with `changes` applied, in any order: an added or updated
  // node takes its address's place, a removed one leaves; the last change of an address wins.
  // The result shares every chunk no change falls into.
  NodeList Apply(const std::vector<NodeChange>& changes) const;

  // How many chunks this list has, and how many of them `other` holds too (tests and
  // benchmarks).
  size_t chunk_count() const { return table().chunks.size(); }
  size_t SharedChunks(const NodeList& other) const;
  // Whether `other` is made of the very same chunks (so holds the same nodes), in O(chunks):
  // a copy of this list, or a list no change has touched since.
  bool SameChunksAs(const NodeList& other) const {
    return table_ == other.table_ || table().chunks == other.table().chunks;
  }
  // The positions [first, last) of the chunks of this list that `other` does not share, when
  // both are cut alike (as many chunks, each as long): what Apply() replaced since `other` when
  // its changes only updated nodes. nullopt when they are cut differently. O(chunks).
  std::optional<std::vector<std::pair<size_t, size_t>>> UnsharedSpans(const NodeList& other) const;

  // The same nodes in the same order.
  friend bool operator==(const NodeList& a, const NodeList& b);
  friend bool operator!=(const NodeList& a, const NodeList& b) { return !(a == b); }

 private:
  using Chunk = std::vector<NodeInfoPtr>;

  // The chunks, and what a search or a copy needs to know of each without reading it. Shared
  // by a list's copies: copying a view's groups counted a reference to every chunk of every
  // group, each on a cache line of its own (12 us of a state change's publish at 10,000
  // workers, 2 us shared; docs/scale.md, "Propagation").
  struct Table {
    // Appends `nodes` as one chunk, or several of kChunkSize when it grew past twice that; a
    // small chunk joins the one before it. An empty one is dropped.
    void AppendChunk(Chunk nodes);
    // Appends `chunk` (not empty) of `chunk_size` nodes, whose first node is `first`.
    void PushChunk(std::shared_ptr<const Chunk> chunk, size_t chunk_size, const NodeInfo* first);
    // The number of nodes in chunk `c`, from the offsets.
    size_t ChunkSize(size_t c) const {
      return (c + 1 < offsets.size() ? offsets[c + 1] : size) - offsets[c];
    }

    std::vector<std::shared_ptr<const Chunk>> chunks;  // none empty
    std::vector<size_t> offsets;                       // the position of each chunk's first node
    std::vector<const NodeInfo*> firsts;               // each chunk's first node
    size_t size = 0;
  };

  explicit NodeList(Table table);

  const Table& table() const { return table_ != nullptr ? *table_ : Empty(); }
  static const Table& Empty();
  // The index of the last chunk whose first node's address is <= `address`, or the number of
  // chunks if `address` comes before every node; the search starts at chunk `from`.
  size_t ChunkFor(absl::string_view address, size_t from = 0) const;
  // The chunk holding position `i` (< size()).
  size_t ChunkOf(size_t i) const;
  // An iterator at position `pos` (<= size()).
  const_iterator At(size_t pos) const;

  std::shared_ptr<const Table> table_;  // null for an empty list
};

// Counts the nodes of successive versions of a list that satisfy `counts`, recounting only the
// chunks a version does not share with the version counted last (UnsharedSpans): O(changed
// chunks) per version, and O(nodes) when the list was cut anew (a node added or removed).
class NodeCounter {
 public:
  explicit NodeCounter(bool (*counts)(const NodeInfo&)) : counts_(counts) {}

  int Count(const NodeList& list);

 private:
  bool (*const counts_)(const NodeInfo&);
  NodeList counted_;  // the version counted last, holding its chunks
  int count_ = 0;
};

}  // namespace roster::cluster
