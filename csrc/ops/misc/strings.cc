// String ops: StringConcat (broadcast concatenation), StringSplit (split on a delimiter or on
// whitespace runs, padded to the longest split), StringNormalizer (stopword removal and ASCII
// case change) and RegexFullMatch (std::regex, ECMAScript syntax approximating RE2).
#include <cctype>
#include <regex>

#include "ops/op_util.h"
#include "ops/registry.h"

namespace fi {

namespace {

void expect_strings(const Tensor& t, const char* what) {
  FI_CHECK(t.dtype() == DataType::String, InvalidArgument, what, " must be a string tensor, got ",
           dtype_name(t.dtype()));
}

// StringConcat: y = x + y elementwise with numpy broadcasting.
class StringConcatKernel : public OpKernel {
 public:
  explicit StringConcatKernel(const OpInit&) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(1);
    expect_strings(a, "X");
    expect_strings(b, "Y");
    Shape out = broadcast_shapes(a.shape(), b.shape());
    Tensor& y = ctx.output(0, DataType::String, out);
    Shape sa = broadcast_strides(a.shape(), out), sb = broadcast_strides(b.shape(), out);
    const std::string* pa = a.data<std::string>();
    const std::string* pb = b.data<std::string>();
    std::string* py = y.data<std::string>();
    const int r = out.rank();
    Shape pos;
    pos.resize(size_t(r), 0);
    int64_t oa = 0, ob = 0;
    for (int64_t i = 0; i < y.numel(); ++i) {
      py[i] = pa[oa] + pb[ob];
      for (int k = r - 1; k >= 0; --k) {
        oa += sa[size_t(k)];
        ob += sb[size_t(k)];
        if (++pos[size_t(k)] < out[size_t(k)]) break;
        oa -= sa[size_t(k)] * out[size_t(k)];
        ob -= sb[size_t(k)] * out[size_t(k)];
        pos[size_t(k)] = 0;
      }
    }
  }
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// StringSplit: Y = X.shape + [max pieces] (padded with ""), Z = number of pieces per element.
class StringSplitKernel : public OpKernel {
 public:
  explicit StringSplitKernel(const OpInit& init)
      : delim_(init.attrs().get_string("delimiter", "")), maxsplit_(init.attrs().get_int("maxsplit", -1)) {}
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    expect_strings(x, "X");
    const std::string* px = x.data<std::string>();
    std::vector<std::vector<std::string>> parts(static_cast<size_t>(x.numel()));
    size_t widest = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      parts[size_t(i)] = split(px[i]);
      widest = std::max(widest, parts[size_t(i)].size());
    }
    Shape ys = x.shape();
    ys.push_back(int64_t(widest));
    Tensor& y = ctx.output(0, DataType::String, ys);
    Tensor& z = ctx.output(1, DataType::Int64, x.shape());
    std::string* py = y.data<std::string>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const auto& p = parts[size_t(i)];
      for (size_t j = 0; j < widest; ++j) py[size_t(i) * widest + j] = j < p.size() ? p[j] : std::string();
      z.data<int64_t>()[i] = int64_t(p.size());
    }
  }

 private:
  std::vector<std::string> split(const std::string& s) const {
    std::vector<std::string> out;
    const size_t n = s.size();
    const bool limited = maxsplit_ >= 0;
    if (delim_.empty()) {
      size_t i = 0;
      while (i < n && is_space(s[i])) ++i;
      while (i < n) {
        if (limited && int64_t(out.size()) == maxsplit_) {
          out.push_back(s.substr(i));
          break;
        }
        size_t j = i;
        while (j < n && !is_space(s[j])) ++j;
        out.push_back(s.substr(i, j - i));
        i = j;
        while (i < n && is_space(s[i])) ++i;
      }
      return out;
    }
    size_t i = 0;
    while (true) {
      size_t j = (limited && int64_t(out.size()) == maxsplit_) ? std::string::npos : s.find(delim_, i);
      if (j == std::string::npos) {
        out.push_back(s.substr(i));
        break;
      }
      out.push_back(s.substr(i, j - i));
      i = j + delim_.size();
    }
    return out;
  }

  std::string delim_;
  int64_t maxsplit_;
};

std::string to_lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string to_upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// StringNormalizer: drops stopwords from a [C] or [1, C] tensor, then changes case (ASCII).
class StringNormalizerKernel : public OpKernel {
 public:
  explicit StringNormalizerKernel(const OpInit& init)
      : sensitive_(init.attrs().get_int("is_case_sensitive", 0) != 0) {
    std::string a = init.attrs().get_string("case_change_action", "NONE");
    FI_CHECK(a == "NONE" || a == "LOWER" || a == "UPPER", InvalidModel, "unknown case_change_action '", a, "'");
    action_ = a;
    for (const auto& w : init.attrs().get_strings("stopwords")) stopwords_.push_back(sensitive_ ? w : to_lower(w));
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    expect_strings(x, "X");
    FI_CHECK(x.rank() == 1 || (x.rank() == 2 && x.dim(0) == 1), InvalidArgument,
             "input must have shape [C] or [1, C], got ", x.shape().str());
    const std::string* px = x.data<std::string>();
    std::vector<std::string> kept;
    for (int64_t i = 0; i < x.numel(); ++i) {
      std::string key = sensitive_ ? px[i] : to_lower(px[i]);
      if (std::find(stopwords_.begin(), stopwords_.end(), key) != stopwords_.end()) continue;
      if (action_ == "LOWER") kept.push_back(to_lower(px[i]));
      else if (action_ == "UPPER") kept.push_back(to_upper(px[i]));
      else kept.push_back(px[i]);
    }
    if (kept.empty()) kept.emplace_back();
    Shape out = x.rank() == 1 ? Shape{int64_t(kept.size())} : Shape{1, int64_t(kept.size())};
    Tensor& y = ctx.output(0, DataType::String, out);
    std::copy(kept.begin(), kept.end(), y.data<std::string>());
  }

 private:
  bool sensitive_;
  std::string action_;
  std::vector<std::string> stopwords_;
};

// Longest string RegexFullMatch accepts (matching costs pattern size x string length).
constexpr size_t kMaxRegexInput = size_t(1) << 22;

// RegexFullMatch: y[i] = whether x[i] matches `pattern` entirely. A leading "(?i)" makes it
// case-insensitive, as in RE2.
class RegexFullMatchKernel : public OpKernel {
 public:
  explicit RegexFullMatchKernel(const OpInit& init) {
    std::string p = init.attrs().require_string("pattern");
    auto flags = std::regex::ECMAScript;
#ifdef __GLIBCXX__
    flags |= std::regex_constants::__polynomial;  // breadth-first matching: no exponential backtracking
#endif
    if (p.rfind("(?i)", 0) == 0) {
      p = p.substr(4);
      flags |= std::regex::icase;
    }
    try {
      re_ = std::regex(p, flags);
      (void)std::regex_match(std::string(), re_);  // back-references (not RE2) are rejected here
    } catch (const std::regex_error& e) {
      throw InvalidModel(str("invalid pattern '", p, "': ", e.what()));
    }
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.in(0);
    expect_strings(x, "X");
    Tensor& y = ctx.output(0, DataType::Bool, x.shape());
    const std::string* px = x.data<std::string>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      FI_CHECK(px[i].size() <= kMaxRegexInput, NotImplemented, "RegexFullMatch: strings longer than ",
               kMaxRegexInput, " bytes are not supported");
      try {
        y.data<bool>()[i] = std::regex_match(px[i], re_);
      } catch (const std::regex_error& e) {
        throw InvalidArgument(str("regex match failed: ", e.what()));
      }
    }
  }

 private:
  std::regex re_;
};

}  // namespace

void register_string_ops(OpRegistry& r) {
  r.add("StringConcat", 20, make_kernel<StringConcatKernel>);
  r.add("StringSplit", 20, make_kernel<StringSplitKernel>);
  r.add("StringNormalizer", 10, make_kernel<StringNormalizerKernel>);
  r.add("RegexFullMatch", 20, make_kernel<RegexFullMatchKernel>);
}

}  // namespace fi
