import type { ComponentChildren } from 'preact';

/**
 * A table that may scroll sideways on a phone: a labelled region in the tab order, so keyboard users can
 * scroll it too (the WAI pattern for scrollable tables; axe's scrollable-region-focusable).
 */
export function TableWrap(props: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
    // biome-ignore lint/a11y/useSemanticElements: a div region keeps the table's layout; section would add a landmark per table
    <div class="table-wrap" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}
