/** CRC-32C lives with the other byte helpers (src/source/bytes.ts); this path stays for the callers that import it here. */
export { crc32c, crc32cLe32, crc32cUpdate, crc32cZeros } from '../../source/bytes.js';
