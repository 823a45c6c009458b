import NIOCore

/// The shell around one direction's `DelayLine`: the last handler of one side's pipeline (the client's or
/// the upstream's). It reads that side, delays what it read, writes it to the other side through the
/// partner handler's context, and withholds reads while the direction's window is full.
///
/// Both sides of a connection live on one event loop, so the pair shares state without locks; time is
/// the event loop's own (`eventLoop.now`: the machine's monotonic clock, or an `EmbeddedEventLoop`'s
/// virtual time in tests), because the loop's timers are what release the bytes.
///
/// Ends travel like data: a side's end of input (a FIN with half-closure, or the side closing) is queued
/// behind its bytes and, when released, shuts the other side's output after every earlier write; when the
/// side is gone altogether (closed or reset), the other side is then closed too.
final class ForwardingHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Chunk {
        case data(ByteBuffer)
        case end
    }

    /// The direction of the bytes read from this handler's side.
    let direction: ProxyDirection
    private let counters: ProxyCounters
    private var line: DelayLine<Chunk>
    /// This side's context while the handler is in the pipeline.
    private var context: ChannelHandlerContext?
    /// The loop of both sides; it outlives the pipeline, so a side's end still travels after it closed.
    private var eventLoop: (any EventLoop)?
    /// The handler on the other side; set by `link` before either side is read.
    private var partner: ForwardingHandler?
    private var timer: Scheduled<Void>?
    /// A `read` arrived while the window was full; issue it when the window opens.
    private var readWithheld = false
    /// This side's end of input is queued (it is queued once).
    private var endQueued = false
    /// This side's channel is inactive (closed or reset), not only half-closed.
    private var sideGone = false
    /// Bytes were written to the partner since its last flush.
    private var partnerNeedsFlush = false

    init(direction: ProxyDirection, link: LinkParameters, seed: UInt64, counters: ProxyCounters) {
        self.direction = direction
        self.counters = counters
        self.line = DelayLine(
            delayNanos: link.delayNanos, jitterNanos: link.jitterNanos, maxBytesInFlight: link.maxBytesInFlight,
            seed: seed)
    }

    /// Makes `a` and `b` each other's partners (a reference cycle, broken when both sides are gone).
    static func link(_ a: ForwardingHandler, _ b: ForwardingHandler) {
        a.partner = b
        b.partner = a
    }

    /// Breaks the pair's reference cycle when it never carried a connection (the link was not made).
    static func unlink(_ a: ForwardingHandler) {
        a.partner?.partner = nil
        a.partner = nil
    }

    // MARK: - Pipeline events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.eventLoop = context.eventLoop
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The timer stays: what this side sent before it closed (and its end) is still on its way.
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let bytes = buffer.readableBytes
        guard bytes > 0, !endQueued else { return }
        let now = context.eventLoop.now.uptimeNanoseconds
        let (_, pause) = line.admit(.data(buffer), bytes: bytes, arrivalNanos: now)
        counters.observeInFlight(line.bytesInFlight)
        if pause { counters.pausedReading() }
        release(nowNanos: now)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushPartner()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            queueEnd(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        sideGone = true
        queueEnd(context: context)
        if partner?.sideGone ?? true { abandon() }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset or a failed read: the side is gone, and channelInactive follows.
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if line.isPaused {
            readWithheld = true
        } else {
            context.read()
        }
    }

    // MARK: - The delay line's shell

    private func queueEnd(context: ChannelHandlerContext) {
        guard !endQueued else { return }
        endQueued = true
        let now = context.eventLoop.now.uptimeNanoseconds
        _ = line.admit(.end, bytes: 0, arrivalNanos: now)
        release(nowNanos: now)
        flushPartner()
    }

    /// Writes every item due at `nowNanos` to the partner and arms the timer for the next one.
    private func release(nowNanos: UInt64) {
        while let due = line.popDue(nowNanos: nowNanos) {
            switch due.item {
            case .data(let buffer): forward(buffer, bytes: due.bytes, delayNanos: due.delayNanos)
            case .end: forwardEnd()
            }
        }
        armTimer()
    }

    private func armTimer() {
        guard timer == nil, let next = line.nextReleaseNanos, let eventLoop else { return }
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: .uptimeNanoseconds(next)) {
            self.timer = nil
            self.release(nowNanos: eventLoop.now.uptimeNanoseconds)
            self.flushPartner()
        }
    }

    private func forward(_ buffer: ByteBuffer, bytes: Int, delayNanos: UInt64) {
        guard let partnerContext = partner?.context, partnerContext.channel.isActive else {
            taken(bytes: bytes)  // nowhere to go: the bytes are dropped, as a link drops them to a dead host
            return
        }
        counters.forwarded(direction, bytes: bytes, delayNanos: delayNanos)
        let written = partnerContext.eventLoop.makePromise(of: Void.self)
        partnerContext.write(NIOAny(buffer), promise: written)
        partnerNeedsFlush = true
        written.futureResult.assumeIsolated().whenComplete { _ in self.taken(bytes: bytes) }
    }

    /// The far side took (or refused) `bytes`: reopen the window when it falls to half.
    private func taken(bytes: Int) {
        guard line.completed(bytes: bytes), readWithheld, let context else { return }
        readWithheld = false
        context.read()
    }

    /// This side's end reaches the partner: shut its output once every earlier write is done (NIO's
    /// output close waits for pending writes); if this side is gone altogether, close the partner.
    private func forwardEnd() {
        guard let partnerContext = partner?.context, partnerContext.channel.isActive else { return }
        partnerContext.flush()
        partnerNeedsFlush = false
        let shut = partnerContext.eventLoop.makePromise(of: Void.self)
        partnerContext.close(mode: .output, promise: shut)
        let closeFully = sideGone
        shut.futureResult.assumeIsolated().whenComplete { result in
            // A channel without half-closure fails the output close: close it all instead.
            if closeFully || (try? result.get()) == nil { partnerContext.close(promise: nil) }
        }
    }

    private func flushPartner() {
        guard partnerNeedsFlush else { return }
        partnerNeedsFlush = false
        partner?.context?.flush()
    }

    /// Both sides are gone: drop what is still queued either way and break the reference cycle.
    private func abandon() {
        for handler in [self, partner].compactMap({ $0 }) {
            handler.timer?.cancel()
            handler.timer = nil
            _ = handler.line.removeAll()
        }
        partner?.partner = nil
        partner = nil
    }
}

/// The link a proxy emulates, in the units the handlers use.
struct LinkParameters: Sendable {
    var delayNanos: UInt64
    var jitterNanos: UInt64
    var maxBytesInFlight: Int
}
