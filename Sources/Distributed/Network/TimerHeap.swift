/// A binary min-heap of timers ordered by deadline, then by insertion order (so timers with one deadline
/// fire first-in first-out). One heap serves every delayed message: scheduling and firing cost
/// O(log n), with no task or allocation per timer beyond the heap's storage.
package struct TimerHeap<Element> {
    fileprivate struct Node {
        let deadline: UInt64
        let sequence: UInt64
        let element: Element

        func precedes(_ other: Node) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private var nodes: [Node] = []
    private var nextSequence: UInt64 = 0

    package init() {}

    package var count: Int { nodes.count }
    package var isEmpty: Bool { nodes.isEmpty }
    /// The earliest deadline, if any timer is pending.
    package var nextDeadline: UInt64? { nodes.first?.deadline }

    package mutating func schedule(_ element: Element, at deadline: UInt64) {
        nodes.append(Node(deadline: deadline, sequence: nextSequence, element: element))
        nextSequence += 1
        siftUp(nodes.count - 1)
    }

    /// Removes and returns the earliest timer if its deadline is at or before `now`.
    package mutating func popDue(now: UInt64) -> (deadline: UInt64, element: Element)? {
        guard let first = nodes.first, first.deadline <= now else { return nil }
        let last = nodes.removeLast()
        if !nodes.isEmpty {
            nodes[0] = last
            siftDown(0)
        }
        return (first.deadline, first.element)
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard nodes[child].precedes(nodes[parent]) else { return }
            nodes.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < nodes.count && nodes[left].precedes(nodes[smallest]) { smallest = left }
            if right < nodes.count && nodes[right].precedes(nodes[smallest]) { smallest = right }
            if smallest == parent { return }
            nodes.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

extension TimerHeap: Sendable where Element: Sendable {}
extension TimerHeap.Node: Sendable where Element: Sendable {}
