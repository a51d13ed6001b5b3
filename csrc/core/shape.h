// Shape: dimensions held inline (no heap allocation), with a std::vector-like interface.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"

namespace fi {

class Shape {
 public:
  static constexpr int kMaxRank = 16;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<int64_t>& dims) { assign(dims.begin(), dims.end()); }
  template <class It>
  Shape(It first, It last) { assign(first, last); }

  template <class It>
  void assign(It first, It last) {
    rank_ = 0;
    for (; first != last; ++first) push_back(int64_t(*first));
  }

  size_t size() const { return size_t(rank_); }
  int rank() const { return rank_; }
  bool empty() const { return rank_ == 0; }
  int64_t& operator[](size_t i) { return d_[i]; }
  int64_t operator[](size_t i) const { return d_[i]; }
  int64_t* begin() { return d_; }
  int64_t* end() { return d_ + rank_; }
  const int64_t* begin() const { return d_; }
  const int64_t* end() const { return d_ + rank_; }
  const int64_t* data() const { return d_; }
  int64_t* data() { return d_; }
  int64_t back() const { return d_[rank_ - 1]; }
  int64_t& back() { return d_[rank_ - 1]; }

  void push_back(int64_t v) {
    if (rank_ >= kMaxRank) throw NotImplemented(fi::str("tensors of rank above ", kMaxRank, " are not supported"));
    d_[rank_++] = v;
  }
  void pop_back() { --rank_; }
  void resize(size_t n, int64_t fill = 0) {
    if (n > size_t(kMaxRank)) throw NotImplemented(fi::str("tensors of rank above ", kMaxRank, " are not supported"));
    for (size_t i = size_t(rank_); i < n; ++i) d_[i] = fill;
    rank_ = int(n);
  }
  void insert(size_t pos, int64_t v) {
    push_back(0);
    for (size_t i = size_t(rank_) - 1; i > pos; --i) d_[i] = d_[i - 1];
    d_[pos] = v;
  }
  void erase(size_t pos) {
    for (size_t i = pos; i + 1 < size_t(rank_); ++i) d_[i] = d_[i + 1];
    --rank_;
  }
  void clear() { rank_ = 0; }

  // Number of elements (product of dims); 1 for a scalar.
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= d_[i];
    return n;
  }
  // Product of dims [from, to).
  int64_t prod(int from, int to) const {
    int64_t n = 1;
    for (int i = from; i < to; ++i) n *= d_[i];
    return n;
  }
  std::vector<int64_t> vec() const { return std::vector<int64_t>(begin(), end()); }
  std::string str() const;

  bool operator==(const Shape& o) const {
    if (rank_ != o.rank_) return false;
    for (int i = 0; i < rank_; ++i)
      if (d_[i] != o.d_[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  int64_t d_[kMaxRank] = {};
  int rank_ = 0;
};

// Normalises a possibly negative axis against `rank`; throws InvalidArgument if out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* what = "axis");

// Numpy-style multidirectional broadcast of two shapes; throws InvalidArgument if incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);

}  // namespace fi
