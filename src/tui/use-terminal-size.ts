import { useEffect, useState } from 'react';
import { useStdout } from 'ink';

export interface TermSize {
  columns: number;
  rows: number;
}

/** The terminal's size, updated on resize; 80×24 when the stream does not say. */
export function useTerminalSize(fixed?: TermSize): TermSize {
  const { stdout } = useStdout();
  const read = (): TermSize => fixed ?? { columns: stdout.columns || 80, rows: stdout.rows || 24 };
  const [size, setSize] = useState<TermSize>(read);
  useEffect(() => {
    if (fixed) {
      setSize(fixed);
      return;
    }
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout, fixed?.columns, fixed?.rows]);
  return size;
}
