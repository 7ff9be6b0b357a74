/* log_sink.h - where finished log lines go: one process-wide file descriptor that is never allowed to
 * block a serving thread.
 *
 * A thread that runs an event loop buffers its lines (log_sink_thread_buffer(true)) and writes them once
 * per loop turn with non-blocking writes of whole lines, at most PIPE_BUF bytes each, so lines from
 * several threads never interleave in a pipe. When the reader is slow the lines wait in the thread's
 * bounded buffer; when that is full, new lines are dropped and counted. Other threads write each line at
 * once, also without blocking, and drop it when the sink is full. See docs/internals/logging.md.
 */
#ifndef FIXGW_TELEMETRY_LOG_SINK_H
#define FIXGW_TELEMETRY_LOG_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Bytes a buffering thread may hold while the sink is full; lines beyond it are dropped. */
#define LOG_SINK_BUFFER_CAP (256u * 1024u)

/** Write to fd (2 by default) from now on. A pipe, FIFO or terminal is reopened through /proc/self/fd
 * as a private non-blocking open file description, so the process that shares fd keeps its blocking
 * mode; a socket is written with MSG_DONTWAIT; a regular file as it is. Calling again with the same fd
 * is a no-op, so a reload may call it while threads log. Returns 0 or -errno (the sink then still
 * writes to fd). */
int log_sink_open(int fd);

/** Buffer the calling thread's lines until log_sink_flush() (on), or flush them, waiting up to
 * LOG_SINK_EXIT_WAIT_MS for a full sink, and free the buffer (off). An event loop thread turns it on
 * when its loop starts and off when it ends. Returns 0 or -ENOMEM (the thread then writes directly). */
int log_sink_thread_buffer(bool on);

/** Whether the calling thread buffers its lines. */
bool log_sink_thread_buffering(void);

/** Hand one finished line (ending in '\n') to the sink: appended to the thread's buffer, or written at
 * once when the thread does not buffer. Never blocks. Returns false when the line was dropped. */
bool log_sink_write(const char *line, size_t len);

/** Write what the calling thread buffered, without blocking. Returns 1 when lines remain (the sink is
 * full: call again soon), 0 when all went out, or -errno when the sink failed and they were dropped. */
int log_sink_flush(void);

/** Lines the calling thread dropped since it last reported them; resets the count. */
uint64_t log_sink_take_unreported(void);

/** Lines dropped by every thread since the process started. */
uint64_t log_sink_dropped_total(void);

#endif
