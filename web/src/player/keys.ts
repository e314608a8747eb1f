// Keyboard shortcuts of the player, as a pure mapping from a key event to an action.

export type ShortcutAction = 'toggle' | 'back' | 'forward' | 'slower' | 'faster' | 'help';

export const SHORTCUTS: { keys: string; what: string }[] = [
  { keys: 'Space or k', what: 'play / pause' },
  { keys: 'j or ←', what: 'skip back' },
  { keys: 'l or →', what: 'skip forward' },
  { keys: '<  (Shift+,)', what: 'slower' },
  { keys: '>  (Shift+.)', what: 'faster' },
  { keys: '?', what: 'show these shortcuts' },
];

interface KeyLike {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  target?: EventTarget | null;
}

/** Somewhere the reader types: keys belong to it, not to the player. */
function isTyping(t: EventTarget | null | undefined): boolean {
  const el = t as HTMLElement | null | undefined;
  if (!el || typeof el.tagName !== 'string') return false;
  const tag = el.tagName.toLowerCase();
  return tag === 'input' || tag === 'textarea' || tag === 'select' || el.isContentEditable === true || el.getAttribute?.('contenteditable') === 'true';
}

/** A control that Space (and Enter) activates itself. */
function isActivatable(t: EventTarget | null | undefined): boolean {
  const el = t as HTMLElement | null | undefined;
  if (!el || typeof el.tagName !== 'string') return false;
  const tag = el.tagName.toLowerCase();
  return tag === 'button' || tag === 'a' || tag === 'summary' || el.getAttribute?.('role') === 'button';
}

/** The player action of a keydown, or null (typing, a modifier, a focused button's own Space, any other key). */
export function shortcutFor(e: KeyLike): ShortcutAction | null {
  if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return null;
  switch (e.key) {
    case ' ':
    case 'Spacebar':
      return isActivatable(e.target) ? null : 'toggle';
    case 'k':
    case 'K':
      return 'toggle';
    case 'j':
    case 'J':
    case 'ArrowLeft':
      return 'back';
    case 'l':
    case 'L':
    case 'ArrowRight':
      return 'forward';
    case '<':
      return 'slower';
    case '>':
      return 'faster';
    case '?':
      return 'help';
    default:
      return null;
  }
}
