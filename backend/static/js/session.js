// The signed-in user's token and profile, kept for the lifetime of the browser tab.

const TOKEN_KEY = 'movierec.token';
const USER_KEY = 'movierec.user';
const RETURN_KEY = 'movierec.returnTo';

export const getToken = () => sessionStorage.getItem(TOKEN_KEY);

export function setSession(token, user) {
  sessionStorage.setItem(TOKEN_KEY, token);
  if (user) sessionStorage.setItem(USER_KEY, JSON.stringify(user));
}

export function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

export function currentUser() {
  try {
    return JSON.parse(sessionStorage.getItem(USER_KEY) || 'null');
  } catch {
    return null;
  }
}

export function rememberReturnTo(hash) {
  sessionStorage.setItem(RETURN_KEY, hash);
}

// The page to open after signing in (once), or null.
export function takeReturnTo() {
  const target = sessionStorage.getItem(RETURN_KEY);
  sessionStorage.removeItem(RETURN_KEY);
  return target && !target.startsWith('#/login') ? target : null;
}
