// The page the sign-in returns to.

import { finishSignIn } from "./account.js";

finishSignIn();
