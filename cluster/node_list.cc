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
  if (nodes.size() <= 2 * kChunkSize) {
    AppendChunk(std::move(nodes));
  } else {
    for (size_t at = 0; at < nodes.size(); at += kChunkSize) {
      const size_t end = std::min(nodes.size(), at + kChunkSize);
      AppendChunk(Chunk(std::make_move_iterator(nodes.begin() + at),
                        std::make_move_iterator(nodes.begin() + end)));
    }
  }
  IndexChunks();
}

const NodeInfoPtr& NodeList::operator[](size_t i) const {
  const size_t chunk = ChunkOf(i);
  return (*chunks_[chunk])[i - offsets_[chunk]];
}

size_t NodeList::ChunkOf(size_t i) const {
  return static_cast<size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), i) -
                             offsets_.begin()) -
         1;
}

NodeList::const_iterator NodeList::At(size_t pos) const {
  const_iterator it;
  it.list_ = this;
  it.pos_ = pos;
  if (chunks_.empty()) return it;
  if (pos < size_) {
    it.Seek(ChunkOf(pos));
    it.at_ += pos - offsets_[it.chunk_];
  } else {  // end(): one past the last chunk's last node
    it.Seek(chunks_.size() - 1);
    it.at_ = it.chunk_end_;
  }
  return it;
}

NodeInfoPtr NodeList::FindSorted(absl::string_view address) const {
  // The last chunk starting at or before `address`, then the node within it.
  auto after = std::upper_bound(
      chunks_.begin(), chunks_.end(), address,
      [](absl::string_view key, const auto& chunk) { return key < chunk->front()->address; });
  if (after == chunks_.begin()) return nullptr;
  const Chunk& chunk = **std::prev(after);
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
  auto first_address = [](const std::shared_ptr<const Chunk>& chunk) -> const std::string& {
    return chunk->front()->address;
  };

  NodeList next;
  next.chunks_.reserve(chunks_.size() + 1);
  size_t copied = 0;  // chunks_[0, copied) are in `next` already
  for (ChangeIt change = sorted.cbegin(); change != sorted.cend();) {
    // The chunk this change falls into: the last one starting at or before its address (the
    // first chunk for an address before every node). Changes come in address order, so it is
    // never before `copied`.
    const std::string& address = AddressOf(**change);
    auto after = std::upper_bound(
        chunks_.begin() + copied, chunks_.end(), address,
        [&](const std::string& key, const auto& chunk) { return key < first_address(chunk); });
    const size_t target = after == chunks_.begin() + copied
                              ? copied
                              : static_cast<size_t>(after - chunks_.begin()) - 1;
    for (; copied < target; ++copied) next.chunks_.push_back(chunks_[copied]);
    // Every change before the next chunk's first address goes into this one.
    ChangeIt last = sorted.cend();
    if (target + 1 < chunks_.size()) {
      const std::string& bound = first_address(chunks_[target + 1]);
      last = std::find_if(change, sorted.cend(),
                          [&](const NodeChange* c) { return !(AddressOf(*c) < bound); });
    }
    static const Chunk kNone;
    next.AppendChunk(Merge(target < chunks_.size() ? *chunks_[target] : kNone, change, last));
    copied = std::max(copied, target + 1);
    change = last;
  }
  for (; copied < chunks_.size(); ++copied) next.chunks_.push_back(chunks_[copied]);
  next.IndexChunks();
  return next;
}

size_t NodeList::SharedChunks(const NodeList& other) const {
  size_t shared = 0;
  for (const auto& chunk : chunks_) {
    shared += std::find(other.chunks_.begin(), other.chunks_.end(), chunk) != other.chunks_.end();
  }
  return shared;
}

std::optional<std::vector<std::pair<size_t, size_t>>> NodeList::UnsharedSpans(
    const NodeList& other) const {
  // Equal offsets and sizes: every chunk but the last starts where its peer does, and the last
  // ends where its peer does.
  if (size_ != other.size_ || offsets_ != other.offsets_) return std::nullopt;
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t c = 0; c < chunks_.size(); ++c) {
    if (chunks_[c] != other.chunks_[c]) {
      spans.emplace_back(offsets_[c], offsets_[c] + chunks_[c]->size());
    }
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

void NodeList::AppendChunk(Chunk nodes) {
  if (nodes.empty()) return;
  if (nodes.size() < kChunkSize / 4 && !chunks_.empty() &&
      chunks_.back()->size() + nodes.size() <= 2 * kChunkSize) {
    Chunk joined = *chunks_.back();
    joined.insert(joined.end(), std::make_move_iterator(nodes.begin()),
                  std::make_move_iterator(nodes.end()));
    chunks_.back() = std::make_shared<const Chunk>(std::move(joined));
    return;
  }
  if (nodes.size() <= 2 * kChunkSize) {
    chunks_.push_back(std::make_shared<const Chunk>(std::move(nodes)));
    return;
  }
  for (size_t at = 0; at < nodes.size(); at += kChunkSize) {
    const size_t end = std::min(nodes.size(), at + kChunkSize);
    chunks_.push_back(std::make_shared<const Chunk>(std::make_move_iterator(nodes.begin() + at),
                                                    std::make_move_iterator(nodes.begin() + end)));
  }
}

void NodeList::IndexChunks() {
  offsets_.clear();
  offsets_.reserve(chunks_.size());
  size_ = 0;
  for (const auto& chunk : chunks_) {
    offsets_.push_back(size_);
    size_ += chunk->size();
  }
}

}  // namespace roster::cluster
