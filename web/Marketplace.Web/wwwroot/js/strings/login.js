// The login page's strings beyond those in pages.js: what a newly registered account does before its first sign-in.

import { strings } from "../i18n.js";

strings({
  zh: {
    "login.confirmHint": "新注册的账户须先打开确认邮件中的链接，确认邮箱后才能登录。",
  },
  en: {
    "login.confirmHint": "A newly registered account signs in once its address is confirmed: open the link in the mail sent when you registered.",
  },
});
