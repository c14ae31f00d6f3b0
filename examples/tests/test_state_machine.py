from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule


class BoundedQueue:
    """A ring-buffer queue of fixed capacity."""

    def __init__(self, capacity: int) -> None:
        self.items = [None] * capacity
        self.head = 0
        self.size = 0

    def push(self, item: int) -> None:
        if self.size == len(self.items):
            raise OverflowError("queue full")
        self.items[(self.head + self.size) % len(self.items)] = item
        self.size += 1

    def pop(self) -> int:
        if not self.size:
            raise IndexError("queue empty")
        item = self.items[self.head]
        self.head = (self.head + 1) % len(self.items)
        self.size -= 1
        return item


class QueueMachine(RuleBasedStateMachine):
    """The ring buffer behaves like a list used as a FIFO queue."""

    def __init__(self) -> None:
        super().__init__()
        self.queue = BoundedQueue(4)
        self.model: list[int] = []

    @precondition(lambda self: len(self.model) < 4)
    @rule(item=st.integers())
    def push(self, item):
        self.queue.push(item)
        self.model.append(item)

    @precondition(lambda self: self.model)
    @rule()
    def pop(self):
        assert self.queue.pop() == self.model.pop(0)

    @invariant()
    def sizes_agree(self):
        assert self.queue.size == len(self.model)


TestQueue = QueueMachine.TestCase
