"""The session tree: one row a session, updated in place (set_label, add, remove), never rebuilt."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from scope_tui.store import ids, succession
from scope_tui.store.sessions import Session
from scope_tui.tui import labels
from scope_tui.tui.messages import SessionHighlighted

MACHINERY_ROLES = ("eval",)
AGE_TICK_S = 1.0  # how often the live rows on screen are asked whether their age text moved  # sessions the learning machinery starts: folded, one node a patch


def fold_of(s: Session) -> str | None:
    """The fold a machinery session goes under (`~eval:<patch>`), or None for a session shown as itself."""
    role = s.meta.get("role")
    if role not in MACHINERY_ROLES:
        return None
    params = s.meta.get("params")
    patch = params.get("patch") if isinstance(params, dict) else None
    return f"~{role}:{patch or '?'}"


def _order(sessions: Mapping[str, Session], data: str | None) -> tuple[int, ...]:
    """Rows in id order (a resumed session in its predecessor's place), folds after the sessions beside them."""
    if not data or data.startswith("~"):
        return (1 << 30,)
    return succession.place(sessions, data)


def visible_ids(sessions: Mapping[str, Session], filter_text: str, hide_finished: bool) -> set[str]:
    """Sessions to show: those matching the filter and hide-finished, plus every ancestor of one."""
    if not filter_text and not hide_finished:
        return set(sessions)
    f = filter_text.lower()
    keep: set[str] = set()
    for sid, s in sessions.items():
        if hide_finished and s.terminal:
            continue
        if f:
            hay = " ".join(
                str(x)
                for x in (sid, s.title, s.status, s.meta.get("skill"), s.meta.get("agent"), s.level)
                if x
            ).lower()
            if f not in hay:
                continue
        keep.add(sid)
        p = succession.parent(sessions, sid)
        while p and p not in keep:
            keep.add(p)
            p = succession.parent(sessions, p)
    return keep & set(sessions)


class SessionTree(Tree[str]):
    """The sessions as a tree of rows; enter attaches (the app's action) instead of toggling.

    `show(sessions, want)` adds and removes rows to match; `relabel(sids)` redraws some; the age of a
    live row is recomputed once a second for the rows on screen only, and set only when its text moves.
    """

    DEFAULT_CSS = """
    SessionTree {
        height: 1fr;
        background: $surface;
        border: round $panel;
        border-title-color: $foreground-muted;
        padding: 0 1;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    SessionTree:focus {
        border: round $primary 60%;
    }
    """
    BINDINGS = [
        Binding("enter", "app.attach", "Attach", id="attach"),
        Binding("space", "toggle_node", "Fold", id="fold", show=False),
    ]
    ICON_NODE = "▸ "
    ICON_NODE_EXPANDED = "▾ "

    def __init__(self, label: str = "sessions", *, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(label, id=id)
        self.clock = clock
        self.nodes: dict[str, TreeNode[str]] = {}
        self.folds: dict[str, TreeNode[str]] = {}  # "<parent id>/~eval:<patch>" -> its folded node
        self.sessions: Mapping[str, Session] = {}
        self.palette = labels.Palette()
        self.width_for_rows = 80
        self.sized = asyncio.Event()  # the tree has had its first size: rows are made at that width
        self._ages: dict[str, str] = {}  # the age text each live row shows now
        self.show_root = False
        self.guide_depth = 3

    def on_mount(self) -> None:
        self.root.expand()
        self.set_interval(AGE_TICK_S, self.tick_ages)

    # -- rows ------------------------------------------------------------------------------------
    def row(self, s: Session, now: float) -> Text:
        """The label of `s`, remembering the age it shows so the ticker relabels only when that moves."""
        if not s.terminal:
            self._ages[s.id] = labels.age(labels.elapsed(s, now), live=True)
        depth = succession.depth(self.sessions, s.id) if s.id in self.sessions else ids.depth(s.id)
        return labels.row(s, self.palette, now, self.width_for_rows - 3 * depth - 3)

    def relabel(self, sids: Iterable[str] | None = None) -> None:
        """Redraw the rows of `sids` (every row when None) from the sessions they show."""
        now = self.clock()
        for sid in self.nodes if sids is None else sids:
            node = self.nodes.get(sid)
            s = self.sessions.get(sid)
            if node is not None and s is not None:
                node.set_label(self.row(s, now))

    def get_label_width(self, node: TreeNode[str]) -> int:
        """What Tree's own would say, without rendering the label: a rebuild measures every line."""
        label = node.label
        width = label.cell_len if isinstance(label, Text) else cell_len(label)
        if not node.allow_expand:
            return width
        return cell_len(self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE) + width

    def on_resize(self) -> None:
        self.sized.set()
        if self.size.width != self.width_for_rows:
            self.width_for_rows = self.size.width
            self.relabel()  # every row at the new width

    # -- ages ------------------------------------------------------------------------------------
    def on_screen(self) -> range:
        top = int(self.scroll_y)
        return range(top, top + max(1, self.size.height))

    def tick_ages(self) -> None:
        """Relabel the live rows on screen whose shown age moved; rows off screen wait until they show."""
        now = self.clock()
        shown = self._ages
        for line in self.on_screen():
            node = self.get_node_at_line(line)
            if node is None:
                break  # past the last row
            s = self.sessions.get(node.data) if node.data else None
            if s is None or s.terminal:
                continue
            if shown.get(s.id) != labels.age(labels.elapsed(s, now), live=True):
                node.set_label(self.row(s, now))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self.tick_ages()  # rows scrolled into view show their age as of now

    # -- structure -------------------------------------------------------------------------------
    def show(self, sessions: Mapping[str, Session], want: set[str], *, initial: bool = False) -> None:
        """Make the rows match `want` (ids in `sessions`): remove the extra, add the missing in id order."""
        self.sessions = sessions
        # a session another took the place of (`scope resume`) is not shown: its successor stands there,
        # with the children it kept (store/succession.py)
        want = {sid for sid in want if not succession.hidden(sessions, sid)}
        for sid in sorted(set(self.nodes) - want, key=lambda x: (-ids.depth(x), ids.sort_key(x))):
            node = self.nodes.pop(sid, None)
            if node is not None:
                self._forget(node)
                self._ages.pop(sid, None)
                node.remove()
        for fkey, fnode in list(self.folds.items()):
            if not fnode.children:
                del self.folds[fkey]
                fnode.remove()
        now = self.clock()
        added = sorted(
            want - set(self.nodes),
            key=lambda x: (succession.depth(sessions, x), succession.place(sessions, x)),
        )
        # Finished subtrees start folded: only the ancestors of something live are opened at first.
        live_under: set[str] = set()
        if initial:
            for s in sessions.values():
                if s.corrupt or s.terminal:
                    continue
                p: str | None = s.id
                while p and p not in live_under:
                    live_under.add(p)
                    p = succession.parent(sessions, p)
        for sid in added:
            s = sessions[sid]
            parent_id = succession.parent(sessions, sid)
            parent = self.nodes.get(parent_id) if parent_id else None
            pnode = parent if parent is not None else self.root
            fold = fold_of(s)
            if fold is not None:
                pnode = self._fold(pnode, parent_id or "", fold)
            before = None
            key = succession.place(sessions, sid)
            if pnode.children and _order(sessions, pnode.children[-1].data) > key:
                before = next((c for c in pnode.children if _order(sessions, c.data) > key), None)
            self.nodes[sid] = pnode.add(self.row(s, now), data=sid, before=before, allow_expand=False)
            if parent is not None and not parent.allow_expand:  # its first child
                parent.allow_expand = True
                if not initial or parent_id in live_under:
                    parent.expand()
        for fnode in self.folds.values():
            fnode.set_label(self._fold_label(str(fnode.data), len(fnode.children)))
        if initial and self.cursor_line < 0 and self.nodes:
            self.cursor_line = 0

    def _forget(self, node: TreeNode[str]) -> None:
        """Drop the rows under `node` (removed with it): by the tree's own nodes, since a resumed session's
        row holds children whose ids are not under its own."""
        for child in node.children:
            if child.data and self.nodes.get(child.data) is child:
                del self.nodes[child.data]
                self._ages.pop(child.data, None)
            self._forget(child)

    def _fold(self, under: TreeNode[str], parent_id: str, fold: str) -> TreeNode[str]:
        """The one collapsed node the machinery sessions of a patch go under (made on first use)."""
        key = f"{parent_id}/{fold}"
        node = self.folds.get(key)
        if node is None:
            node = under.add(self._fold_label(fold, 0), data=fold, allow_expand=True, expand=False)
            self.folds[key] = node
        return node

    def _fold_label(self, fold: str, n: int) -> Text:
        role, _, patch = fold.lstrip("~").partition(":")
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"⚙ {role} · patch {patch}", style=self.palette.muted)
        t.append(f"  {n} session{'s' if n != 1 else ''}", style=self.palette.muted)
        return t

    def selected(self) -> str | None:
        """The session under the cursor (None on a fold)."""
        node = self.cursor_node if self.is_attached else None
        data = node.data if node is not None else None
        return None if data is None or data.startswith("~") else data

    def select(self, sid: str) -> bool:
        """Move the cursor to `sid` (expanding its ancestors); False when it is not shown."""
        node = self.nodes.get(sid)
        if node is None:
            return False
        up = node.parent
        while up is not None and up is not self.root:
            up.expand()  # its ancestors, a fold among them
            up = up.parent
        self.call_after_refresh(self.move_cursor, node)
        self.focus()
        return True

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        event.stop()
        if event.node.data and not event.node.data.startswith("~"):
            self.post_message(SessionHighlighted(event.node.data))
