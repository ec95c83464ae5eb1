import { newRouter } from "./shared";

// Placeholder while the issue-14 work lands (replaced by its implementation).
export const listsRouter = newRouter();
