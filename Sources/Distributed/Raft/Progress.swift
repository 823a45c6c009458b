/// What a leader knows about one follower's log (Raft §5.3 `nextIndex`/`matchIndex`, with etcd's
/// probe/replicate/snapshot flow states).
struct Progress: Equatable {
    enum State: String, Equatable {
        /// The leader does not know where the follower's log matches: one append at a time, then wait.
        case probe = "Probe"
        /// The follower's log matches up to `match`: appends are sent optimistically.
        case replicate = "Replicate"
        /// A snapshot was sent; nothing else is sent until the follower reports it applied.
        case snapshot = "Snapshot"
    }

    /// The highest index known to be durable in the follower's log and equal to the leader's.
    var match: UInt64 = 0
    /// The next index to send.
    var next: UInt64
    var state: State = .probe
    /// In `probe`: an append is outstanding, wait for its answer (or a heartbeat answer).
    var probeSent = false
    /// In `snapshot`: the index of the snapshot sent.
    var pendingSnapshot: UInt64 = 0
    /// Heard from since the last quorum check.
    var recentActive = false
    /// In `replicate`: the last index of each append in flight, oldest first (at most the limit given to
    /// `isPaused`).
    var inflight: [UInt64] = []
    /// The highest commit index this follower was told (and can have applied: capped by what was sent).
    var sentCommit: UInt64 = 0

    init(next: UInt64) { self.next = next }

    /// Raises `match` to `index` if larger (an acknowledgement); returns whether it moved.
    mutating func maybeUpdate(_ index: UInt64) -> Bool {
        var updated = false
        if match < index {
            match = index
            updated = true
            probeSent = false
            // Appends up to the acknowledged index have arrived.
            inflight.removeAll { $0 <= index }
        }
        next = max(next, index + 1)
        return updated
    }

    /// Lowers `next` after the follower rejected an append at `rejected`, using its hint; returns false when
    /// the rejection is stale (it answers an append sent before the current probe).
    mutating func maybeDecrease(rejected: UInt64, matchHint: UInt64) -> Bool {
        if state == .replicate {
            // A rejection below what is known to match is stale.
            if rejected <= match { return false }
            next = match + 1
            return true
        }
        // In probe (or snapshot) only the answer to the latest probe counts.
        if next - 1 != rejected { return false }
        next = max(min(rejected, matchHint + 1), match + 1)
        probeSent = false
        return true
    }

    mutating func becomeProbe() {
        inflight = []
        if state == .snapshot {
            next = max(match + 1, pendingSnapshot + 1)
            pendingSnapshot = 0
        } else {
            next = match + 1
        }
        state = .probe
        probeSent = false
    }

    mutating func becomeReplicate() {
        inflight = []
        state = .replicate
        next = match + 1
        probeSent = false
    }

    mutating func becomeSnapshot(_ index: UInt64) {
        inflight = []
        state = .snapshot
        pendingSnapshot = index
        probeSent = false
    }

    /// The follower may not know the commit index yet: an append (even empty) would tell it.
    func canBumpCommit(_ committed: UInt64) -> Bool {
        sentCommit < min(committed, next - 1)
    }

    /// The leader may not send an append now (`maxInflight` bounds the appends in flight when replicating).
    func isPaused(maxInflight: Int) -> Bool {
        switch state {
        case .probe: probeSent
        case .replicate: inflight.count >= maxInflight
        case .snapshot: true
        }
    }
}
