// pgpass ships no types; this is the one call the library makes.
declare module 'pgpass' {
  interface PgPassConnInfo {
    host?: string;
    port?: number | string;
    database?: string;
    user?: string;
  }
  function pgpass(connInfo: PgPassConnInfo, callback: (password: string | undefined) => void): void;
  export default pgpass;
}
