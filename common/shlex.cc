#include "common/shlex.h"

#include <cctype>

namespace zunvm {

Result<std::vector<std::string>> ShellSplit(const std::string& s) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) {
        words.push_back(std::move(cur));
        cur.clear();
        in_word = false;
      }
      ++i;
    } else if (c == '\'') {
      size_t end = s.find('\'', i + 1);
      if (end == std::string::npos) return Err(Status::Invalid("No closing quotation in: " + s));
      cur.append(s, i + 1, end - i - 1);
      in_word = true;
      i = end + 1;
    } else if (c == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == '"') {
          closed = true;
          ++i;
          break;
        }
        if (s[i] == '\\' && i + 1 < s.size() &&
            (s[i + 1] == '"' || s[i + 1] == '\\' || s[i + 1] == '$' || s[i + 1] == '`')) {
          cur.push_back(s[i + 1]);
          i += 2;
          continue;
        }
        cur.push_back(s[i++]);
      }
      if (!closed) return Err(Status::Invalid("No closing quotation in: " + s));
      in_word = true;
    } else if (c == '\\') {
      if (i + 1 >= s.size()) return Err(Status::Invalid("No escaped character in: " + s));
      cur.push_back(s[i + 1]);
      in_word = true;
      i += 2;
    } else {
      cur.push_back(c);
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

}  // namespace zunvm
