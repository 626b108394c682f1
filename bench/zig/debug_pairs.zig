// SPDX-License-Identifier: MIT
// Zig 0.12's debug allocator (GeneralPurposeAllocator) beside std.heap.c_allocator: the cost of one
// alloc(64 B, align 16) + free pair, for judging debug_resource against it. Run by scripts/bench-zig,
// not by CI. Built with Zig 0.12.0-dev.1286, whose std API differs from 0.14+ (DebugAllocator).
//   debug_pairs <config> <pairs>   prints the ns per pair
//   debug_pairs frames             prints how many frames gpa6 stores per alloc and per free trace
// With one block live, every GPA free empties its bucket, so every GPA pair here also allocates
// and frees a bucket (a page and its metadata) through c_allocator: that is GPA's cost too.
const std = @import("std");
const builtin = @import("builtin");

fn Gpa(comptime frames: usize, comptime thread_safe: bool) type {
    return std.heap.GeneralPurposeAllocator(.{
        .stack_trace_frames = frames,
        .thread_safe = thread_safe,
        // The default follows the build mode, which turns it off in ReleaseFast.
        .safety = true,
    });
}

const configs = .{
    .{ "gpa6", Gpa(6, true) },
    .{ "gpa0", Gpa(0, true) },
    .{ "gpa6_unsafe", Gpa(6, false) },
    .{ "gpa0_unsafe", Gpa(0, false) },
};

// noinline, so that no allocator is known at compile time here: every call goes through the vtable,
// as pmrheap's calls go through a virtual memory_resource.
noinline fn timePairs(a: std.mem.Allocator, n: u64) !u64 {
    var timer = try std.time.Timer.start();
    var i: u64 = 0;
    while (i < n) : (i += 1) {
        const p = try a.alignedAlloc(u8, 16, 64);
        std.mem.doNotOptimizeAway(p.ptr);
        a.free(p);
    }
    return timer.read();
}

fn run(a: std.mem.Allocator, n: u64) anyerror!void {
    // Warm-up: first bucket, node pool and malloc arena.
    _ = try timePairs(a, 1000);
    const ns = try timePairs(a, n);
    const per_pair = @as(f64, @floatFromInt(ns)) / @as(f64, @floatFromInt(n));
    try std.io.getStdOut().writer().print("{d:.2}\n", .{per_pair});
}

// GPA's traces start at the caller of the function that calls alloc and stop where the frame
// pointer chain does (main, as glibc keeps no frame pointers); Google Benchmark runs pmrheap's pairs
// deeper than that. These frames give a 6-frame trace 6 frames to store.
const depth = 8;

noinline fn atDepth(d: u32, comptime f: anytype, args: anytype) anyerror!void {
    if (d == 0) return @call(.never_inline, f, args);
    try atDepth(d - 1, f, args);
    std.mem.doNotOptimizeAway(d); // no tail call: each level keeps its frame
}

// Trace lengths are not public, but GPA logs the traces of a leak and of a double free;
// this log function records their lengths.
var trace_lengths: [4]usize = undefined;
var trace_count: usize = 0;

pub const std_options = struct {
    pub const logFn = recordTraces;
};

fn recordTraces(
    comptime level: std.log.Level,
    comptime scope: @TypeOf(.EnumLiteral),
    comptime format: []const u8,
    args: anytype,
) void {
    inline for (args) |arg| {
        if (@TypeOf(arg) == std.builtin.StackTrace and trace_count < trace_lengths.len) {
            trace_lengths[trace_count] = arg.index;
            trace_count += 1;
        }
    }
    std.log.defaultLog(level, scope, format, args);
}

// Called at `depth` like run, so its traces are as long as those the timed pairs store.
noinline fn doubleFree(a: std.mem.Allocator) anyerror!void {
    const keep = try a.alignedAlloc(u8, 16, 64); // keeps the bucket alive after the first free
    const p = try a.alignedAlloc(u8, 16, 64);
    std.mem.doNotOptimizeAway(p.ptr);
    a.free(p);
    a.free(p); // reported with p's alloc trace and first free trace
    std.mem.doNotOptimizeAway(keep.ptr);
}

fn printTraceLengths() !void {
    var gpa = Gpa(6, true){ .backing_allocator = std.heap.c_allocator };
    try atDepth(depth, doubleFree, .{gpa.allocator()});
    _ = gpa.deinit(); // reports `keep` as a leak: a third trace
    const out = std.io.getStdOut().writer();
    if (trace_count < 2) return error.NoTraceLogged;
    try out.print("gpa6 trace lengths: alloc {d}, free {d} (of 6); single_threaded={}\n", .{
        trace_lengths[0], trace_lengths[1], builtin.single_threaded,
    });
}

pub fn main() !void {
    var args = std.process.args();
    _ = args.skip();
    const name = args.next() orelse return error.Usage;
    if (std.mem.eql(u8, name, "frames")) return printTraceLengths();
    const n = try std.fmt.parseInt(u64, args.next() orelse return error.Usage, 10);

    if (std.mem.eql(u8, name, "c")) return atDepth(depth, run, .{ std.heap.c_allocator, n });
    inline for (configs) |cfg| {
        if (std.mem.eql(u8, name, cfg[0])) {
            // Over c_allocator, so that the ratio to `c` is the cost of the debug layer alone.
            var gpa = cfg[1]{ .backing_allocator = std.heap.c_allocator };
            defer _ = gpa.deinit();
            return atDepth(depth, run, .{ gpa.allocator(), n });
        }
    }
    return error.UnknownConfig;
}
