// peer_common.h - shared helpers of the QuickFIX test peers: JSON event lines on stdout, command-line
// parsing, raw tag=value field access, a QuickFIX Log that never writes to stdout, and signal handling.
#ifndef FIXGW_PEER_COMMON_H
#define FIXGW_PEER_COMMON_H

#include <quickfix/FileLog.h>
#include <quickfix/Log.h>
#include <quickfix/SessionID.h>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace peer
{

// ---- JSON event lines ----

inline std::string json_escape(const std::string &s)
{
	std::string out;
	out.reserve(s.size() + 2);
	for (unsigned char c : s) {
		switch (c) {
		case '"':
			out += "\\\"";
			break;
		case '\\':
			out += "\\\\";
			break;
		case '\n':
			out += "\\n";
			break;
		default:
			if (c < 0x20 ||
			    c >= 0x7f) { // keeps the line valid JSON and valid UTF-8 whatever the input
				char buf[8];
				std::snprintf(buf, sizeof(buf), "\\u%04x", c);
				out += buf;
			} else {
				out += static_cast<char>(c);
			}
		}
	}
	return out;
}

/// One JSON object, built key by key in insertion order.
class Json
{
      public:
	Json &str(const std::string &key, const std::string &value)
	{
		add(key, "\"" + json_escape(value) + "\"");
		return *this;
	}
	Json &num(const std::string &key, long long value)
	{
		add(key, std::to_string(value));
		return *this;
	}
	Json &raw(const std::string &key, const std::string &json)
	{
		add(key, json);
		return *this;
	}
	std::string text() const
	{
		return "{" + body_ + "}";
	}

      private:
	void add(const std::string &key, const std::string &value)
	{
		if (!body_.empty())
			body_ += ",";
		body_ += "\"" + json_escape(key) + "\":" + value;
	}
	std::string body_;
};

/// Where event lines go: stdout, or its duplicate once claim_stdout() ran.
inline std::FILE *&event_stream()
{
	static std::FILE *f = stdout;
	return f;
}

/// Reserve the real stdout for event lines: QuickFIX itself printf()s to stdout in places (its SSL
/// certificate verification callback), so file descriptor 1 is pointed at stderr and the events are
/// written to a private duplicate of the original stdout.
inline void claim_stdout()
{
	std::fflush(stdout);
	int fd = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	std::FILE *f = fd >= 0 ? ::fdopen(fd, "w") : nullptr;
	if (!f)
		return; // keep using stdout
	::dup2(STDERR_FILENO, STDOUT_FILENO);
	event_stream() = f;
}

/// Write one event line and flush it, whole, even when called from several threads.
inline void emit(const Json &j)
{
	static std::mutex mu;
	std::lock_guard<std::mutex> lock(mu);
	std::string line = j.text() + "\n";
	std::fwrite(line.data(), 1, line.size(), event_stream());
	std::fflush(event_stream());
}

// ---- raw tag=value access ----

/// All fields of a raw FIX message, in order (tag, value). Stops at the first malformed field.
inline std::vector<std::pair<int, std::string>> raw_fields(const std::string &msg)
{
	std::vector<std::pair<int, std::string>> out;
	size_t pos = 0;
	while (pos < msg.size()) {
		size_t eq = msg.find('=', pos);
		size_t soh = msg.find('\x01', pos);
		if (eq == std::string::npos || soh == std::string::npos || eq > soh || eq == pos ||
		    eq - pos > 9)
			break;
		int tag = 0;
		for (size_t i = pos; i < eq; i++) {
			if (msg[i] < '0' || msg[i] > '9')
				return out;
			tag = tag * 10 + (msg[i] - '0');
		}
		out.emplace_back(tag, msg.substr(eq + 1, soh - eq - 1));
		pos = soh + 1;
	}
	return out;
}

/// Value of the first occurrence of tag in a raw message, or "" when absent.
inline std::string raw_field(const std::string &msg, int tag)
{
	for (const auto &f : raw_fields(msg))
		if (f.first == tag)
			return f.second;
	return "";
}

/// The message with SOH shown as '|'.
inline std::string printable(std::string msg)
{
	for (char &c : msg)
		if (c == '\x01')
			c = '|';
	return msg;
}

/// {"8":"FIX.4.4","35":"A",...}: every field of a raw message by tag (a repeated tag keeps its first value).
inline std::string fields_json(const std::string &msg)
{
	std::map<int, std::string> seen;
	std::string out = "{";
	for (const auto &f : raw_fields(msg)) {
		if (seen.count(f.first))
			continue;
		seen[f.first] = f.second;
		if (out.size() > 1)
			out += ",";
		out += "\"" + std::to_string(f.first) + "\":\"" + json_escape(f.second) + "\"";
	}
	return out + "}";
}

// ---- command line ----

/// --name value options; names listed in `flags` take no value; any option may repeat.
class Args
{
      public:
	Args(int argc, char **argv, const std::vector<std::string> &flags,
	     const std::vector<std::string> &known, const char *usage)
	    : usage_(usage)
	{
		for (int i = 1; i < argc; i++) {
			std::string a = argv[i];
			if (a == "-h" || a == "--help") {
				std::fprintf(stdout, "%s", usage_);
				std::exit(0);
			}
			if (a.size() < 3 || a.compare(0, 2, "--") != 0)
				fail("unexpected argument " + a);
			std::string name = a.substr(2), value;
			const size_t eq = name.find('=');
			if (eq != std::string::npos) { // --name=value
				value = name.substr(eq + 1);
				name.resize(eq);
			}
			const bool is_flag = contains(flags, name);
			if (!is_flag && !contains(known, name))
				fail("unknown option --" + name);
			if (is_flag && eq != std::string::npos)
				fail("--" + name + " takes no value");
			if (!is_flag && eq == std::string::npos) {
				if (i + 1 >= argc)
					fail("--" + name + " needs a value");
				value = argv[++i];
			}
			values_[name].push_back(is_flag ? "1" : value);
		}
	}

	bool has(const std::string &name) const
	{
		return values_.count(name) != 0;
	}
	std::string get(const std::string &name, const std::string &def = "") const
	{
		auto it = values_.find(name);
		return it == values_.end() ? def : it->second.back();
	}
	std::string need(const std::string &name) const
	{
		if (!has(name))
			fail("--" + name + " is required");
		return get(name);
	}
	std::vector<std::string> all(const std::string &name) const
	{
		auto it = values_.find(name);
		return it == values_.end() ? std::vector<std::string>() : it->second;
	}
	long number(const std::string &name, long def, long min, long max) const
	{
		if (!has(name))
			return def;
		std::string s = get(name);
		char *end = nullptr;
		long v = std::strtol(s.c_str(), &end, 10);
		if (s.empty() || *end != '\0' || v < min || v > max)
			fail("--" + name + " must be a number in [" + std::to_string(min) + ", " +
			     std::to_string(max) + "]");
		return v;
	}
	[[noreturn]] void fail(const std::string &why) const
	{
		std::fprintf(stderr, "error: %s\n\n%s", why.c_str(), usage_);
		std::exit(2);
	}

      private:
	static bool contains(const std::vector<std::string> &v, const std::string &s)
	{
		for (const auto &x : v)
			if (x == s)
				return true;
		return false;
	}
	const char *usage_;
	std::map<std::string, std::vector<std::string>> values_;
};

// ---- QuickFIX log: stderr and/or a FileLog, never stdout (stdout carries only JSON events) ----

struct LogHooks {
	std::function<void(const FIX::SessionID &, const std::string &)> incoming; // raw message received
	std::function<void(const FIX::SessionID &, const std::string &)> event;    // session event text
};

class PeerLog : public FIX::Log
{
      public:
	PeerLog(FIX::SessionID id, FIX::Log *file, bool verbose, const LogHooks &hooks)
	    : id_(std::move(id)), file_(file), verbose_(verbose), hooks_(hooks)
	{
	}
	void clear() override
	{
		if (file_)
			file_->clear();
	}
	void backup() override
	{
		if (file_)
			file_->backup();
	}
	void onIncoming(const std::string &msg) override
	{
		if (file_)
			file_->onIncoming(msg);
		if (verbose_)
			std::fprintf(stderr, "<%s> in  %s\n", id_.toString().c_str(), printable(msg).c_str());
		if (hooks_.incoming)
			hooks_.incoming(id_, msg);
	}
	void onOutgoing(const std::string &msg) override
	{
		if (file_)
			file_->onOutgoing(msg);
		if (verbose_)
			std::fprintf(stderr, "<%s> out %s\n", id_.toString().c_str(), printable(msg).c_str());
	}
	void onEvent(const std::string &text) override
	{
		if (file_)
			file_->onEvent(text);
		if (verbose_)
			std::fprintf(stderr, "<%s> event %s\n", id_.toString().c_str(), text.c_str());
		if (hooks_.event)
			hooks_.event(id_, text);
	}
	FIX::Log *file() const
	{
		return file_;
	}

      private:
	FIX::SessionID id_;
	FIX::Log *file_;
	bool verbose_;
	const LogHooks &hooks_;
};

class PeerLogFactory : public FIX::LogFactory
{
      public:
	/// log_dir "" disables the FileLog; verbose copies every message and event to stderr.
	PeerLogFactory(const std::string &log_dir, bool verbose) : verbose_(verbose)
	{
		if (!log_dir.empty())
			file_.reset(new FIX::FileLogFactory(log_dir));
	}
	FIX::Log *create() override
	{
		return make(FIX::SessionID(), file_ ? file_->create() : nullptr);
	}
	FIX::Log *create(const FIX::SessionID &id) override
	{
		return make(id, file_ ? file_->create(id) : nullptr);
	}
	void destroy(FIX::Log *log) override
	{
		auto *p = static_cast<PeerLog *>(log);
		if (p->file() && file_)
			file_->destroy(p->file());
		delete p;
	}
	LogHooks hooks;

      private:
	FIX::Log *make(const FIX::SessionID &id, FIX::Log *file)
	{
		return new PeerLog(id, file, verbose_, hooks);
	}
	bool verbose_;
	std::unique_ptr<FIX::FileLogFactory> file_;
};

// ---- signals ----

inline volatile std::sig_atomic_t &stop_flag()
{
	static volatile std::sig_atomic_t flag = 0;
	return flag;
}

inline void on_stop_signal(int)
{
	stop_flag() = 1;
}

/// SIGTERM/SIGINT set stop_flag(); SIGPIPE is ignored (a peer closing must not kill us).
inline void install_signal_handlers()
{
	struct sigaction sa = {};
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, nullptr);
	sigaction(SIGINT, &sa, nullptr);
	std::signal(SIGPIPE, SIG_IGN);
}

} // namespace peer

#endif
