#include "cluster/node_list.h"

#include <algorithm>
#include <utility>

namespace roster::cluster {
namespace {

const std::string& AddressOf(const NodeChange& change) {
  return change.after != nullptr ? change.after->address : change.before->address;
}

using ChangeIt = std::vector<const NodeChange*>::const_iterator;

bool AddressBefore(const NodeInfoPtr& node, const std::string& address) {
  return node->address < address;
}

// `nodes` (sorted by address) with the changes [first, last) merged in; the changes are sorted
// by address, and of several for one address the last wins. Each change's place is found by
// binary search, and the nodes between two changes are copied as one range.
std::vector<NodeInfoPtr> Merge(const std::vector<NodeInfoPtr>& nodes, ChangeIt first,
                               ChangeIt last) {
  std::vector<NodeInfoPtr> merged;
  merged.reserve(nodes.size() + static_cast<size_t>(last - first));
  auto node = nodes.begin();
  for (ChangeIt change = first; change != last; ++change) {
    const std::string& address = AddressOf(**change);
    if (std::next(change) != last && AddressOf(**std::next(change)) == address) continue;
    const auto place = std::lower_bound(node, nodes.end(), address, AddressBefore);
    merged.insert(merged.end(), node, place);
    node = place;
    if (node != nodes.end() && (*node)->address == address) ++node;  // replaced or removed
    if ((*change)->after != nullptr) merged.push_back((*change)->after);
  }
  merged.insert(merged.end(), node, nodes.end());
  return merged;
}

}  // namespace

NodeList::NodeList(std::initializer_list<NodeInfoPtr> nodes)
    : NodeList(std::vector<NodeInfoPtr>(nodes)) {}

NodeList::NodeList(std::vector<NodeInfoPtr> nodes) {
  Table table;
  if (nodes.size() <= 2 * kChunkSize) {
    table.AppendChunk(std::move(nodes));
  } else {
    for (size_t at = 0; at < nodes.size(); at += kChunkSize) {
      const size_t end = std::min(nodes.size(), at + kChunkSize);
      table.AppendChunk(Chunk(std::make_move_iterator(nodes.begin() + at),
                              std::make_move_iterator(nodes.begin() + end)));
    }
  }
  *this = NodeList(std::move(table));
}

NodeList::NodeList(Table table) {
  if (table.size > 0) table_ = std::make_shared<const Table>(std::move(table));
}

const NodeList::Table& NodeList::Empty() {
  static const Table* const empty = new Table();
  return *empty;
}

const NodeInfoPtr& NodeList::operator[](size_t i) const {
  const size_t chunk = ChunkOf(i);
  return (*table().chunks[chunk])[i - table().offsets[chunk]];
}

size_t NodeList::ChunkOf(size_t i) const {
  const std::vector<size_t>& offsets = table().offsets;
  return static_cast<size_t>(std::upper_bound(offsets.begin(), offsets.end(), i) -
                             offsets.begin()) -
         1;
}

NodeList::const_iterator NodeList::At(size_t pos) const {
  const Table& t = table();
  const_iterator it;
  it.list_ = this;
  it.table_ = &t;
  it.pos_ = pos;
  if (t.chunks.empty()) return it;
  if (pos < t.size) {
    it.Seek(ChunkOf(pos));
    it.at_ += pos - t.offsets[it.chunk_];
  } else {  // end(): one past the last chunk's last node
    it.Seek(t.chunks.size() - 1);
    it.at_ = it.chunk_end_;
  }
  return it;
}

size_t NodeList::ChunkFor(absl::string_view address, size_t from) const {
  const std::vector<const NodeInfo*>& firsts = table().firsts;
  auto after = std::upper_bound(
      firsts.begin() + static_cast<std::ptrdiff_t>(from), firsts.end(), address,
      [](absl::string_view key, const NodeInfo* first) { return key < first->address; });
  return after == firsts.begin() ? firsts.size() : static_cast<size_t>(after - firsts.begin()) - 1;
}

NodeInfoPtr NodeList::FindSorted(absl::string_view address) const {
  // The last chunk starting at or before `address`, then the node within it.
  const size_t c = ChunkFor(address);
  if (c == table().chunks.size()) return nullptr;
  const Chunk& chunk = *table().chunks[c];
  auto it = std::lower_bound(
      chunk.begin(), chunk.end(), address,
      [](const NodeInfoPtr& node, absl::string_view key) { return node->address < key; });
  if (it == chunk.end() || (*it)->address != address) return nullptr;
  return *it;
}

NodeList NodeList::Apply(const std::vector<NodeChange>& changes) const {
  if (changes.empty()) return *this;
  std::vector<const NodeChange*> sorted;
  sorted.reserve(changes.size());
  for (const NodeChange& change : changes) sorted.push_back(&change);
  std::stable_sort(sorted.begin(), sorted.end(), [](const NodeChange* a, const NodeChange* b) {
    return AddressOf(*a) < AddressOf(*b);
  });

  const Table& t = table();
  Table next;
  next.chunks.reserve(t.chunks.size() + 1);
  next.offsets.reserve(t.chunks.size() + 1);
  next.firsts.reserve(t.chunks.size() + 1);
  size_t copied = 0;  // t.chunks[0, copied) are in `next` already
  for (ChangeIt change = sorted.cbegin(); change != sorted.cend();) {
    // The chunk this change falls into: the last one starting at or before its address (the
    // first chunk for an address before every node). Changes come in address order, so it is
    // never before `copied`.
    const std::string& address = AddressOf(**change);
    const size_t found = ChunkFor(address, copied);
    const size_t target = found == t.chunks.size() || found < copied ? copied : found;
    for (; copied < target; ++copied) {
      next.PushChunk(t.chunks[copied], t.ChunkSize(copied), t.firsts[copied]);
    }
    // Every change before the next chunk's first address goes into this one.
    ChangeIt last = sorted.cend();
    if (target + 1 < t.chunks.size()) {
      const std::string& bound = t.firsts[target + 1]->address;
      last = std::find_if(change, sorted.cend(),
                          [&](const NodeChange* c) { return !(AddressOf(*c) < bound); });
    }
    static const Chunk kNone;
    next.AppendChunk(Merge(target < t.chunks.size() ? *t.chunks[target] : kNone, change, last));
    copied = std::max(copied, target + 1);
    change = last;
  }
  for (; copied < t.chunks.size(); ++copied) {
    next.PushChunk(t.chunks[copied], t.ChunkSize(copied), t.firsts[copied]);
  }
  return NodeList(std::move(next));
}

size_t NodeList::SharedChunks(const NodeList& other) const {
  const std::vector<std::shared_ptr<const Chunk>>& others = other.table().chunks;
  size_t shared = 0;
  for (const auto& chunk : table().chunks) {
    shared += std::find(others.begin(), others.end(), chunk) != others.end();
  }
  return shared;
}

std::optional<std::vector<std::pair<size_t, size_t>>> NodeList::UnsharedSpans(
    const NodeList& other) const {
  // Equal offsets and sizes: every chunk but the last starts where its peer does, and the last
  // ends where its peer does.
  const Table& t = table();
  const Table& o = other.table();
  if (t.size != o.size || t.offsets != o.offsets) return std::nullopt;
  std::vector<std::pair<size_t, size_t>> spans;
  if (table_ == other.table_) return spans;
  for (size_t c = 0; c < t.chunks.size(); ++c) {
    if (t.chunks[c] != o.chunks[c]) spans.emplace_back(t.offsets[c], t.offsets[c] + t.ChunkSize(c));
  }
  return spans;
}

int NodeCounter::Count(const NodeList& list) {
  if (list.SameChunksAs(counted_)) return count_;
  const std::optional<std::vector<std::pair<size_t, size_t>>> spans = list.UnsharedSpans(counted_);
  if (spans.has_value()) {
    for (const auto& [first, last] : *spans) {
      auto now = list.begin() + static_cast<std::ptrdiff_t>(first);
      auto before = counted_.begin() + static_cast<std::ptrdiff_t>(first);
      for (size_t i = first; i < last; ++i, ++now, ++before) {
        count_ += static_cast<int>(counts_(**now)) - static_cast<int>(counts_(**before));
      }
    }
  } else {
    count_ = 0;
    for (const NodeInfoPtr& node : list) count_ += counts_(*node);
  }
  counted_ = list;
  return count_;
}

bool operator==(const NodeList& a, const NodeList& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

void NodeList::Table::AppendChunk(Chunk nodes) {
  if (nodes.empty()) return;
  if (nodes.size() < kChunkSize / 4 && !chunks.empty() &&
      ChunkSize(chunks.size() - 1) + nodes.size() <= 2 * kChunkSize) {
    // Joined to the last chunk: its offset and first node stay.
    Chunk joined = *chunks.back();
    joined.insert(joined.end(), std::make_move_iterator(nodes.begin()),
                  std::make_move_iterator(nodes.end()));
    size += nodes.size();
    chunks.back() = std::make_shared<const Chunk>(std::move(joined));
    return;
  }
  auto push = [this](Chunk chunk) {
    const size_t chunk_size = chunk.size();
    const NodeInfo* first = chunk.front().get();
    PushChunk(std::make_shared<const Chunk>(std::move(chunk)), chunk_size, first);
  };
  if (nodes.size() <= 2 * kChunkSize) {
    push(std::move(nodes));
    return;
  }
  for (size_t at = 0; at < nodes.size(); at += kChunkSize) {
    const size_t end = std::min(nodes.size(), at + kChunkSize);
    push(Chunk(std::make_move_iterator(nodes.begin() + at),
               std::make_move_iterator(nodes.begin() + end)));
  }
}

void NodeList::Table::PushChunk(std::shared_ptr<const Chunk> chunk, size_t chunk_size,
                                const NodeInfo* first) {
  offsets.push_back(size);
  firsts.push_back(first);
  size += chunk_size;
  chunks.push_back(std::move(chunk));
}

}  // namespace roster::cluster
